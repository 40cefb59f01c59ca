"""The national profile's cost against the international one, measured in the same run (issue 19).

    .venv/bin/python -m bench.crypto [--records 20000] [--messages 400] [--smoke]

For each profile (``HUB_CRYPTO_PROFILE`` international: AES-256-GCM,
HMAC-SHA256, Ed25519; national: SM4-GCM, HMAC-SM3, SM2), a hub on a fresh
SQLite database in a scratch folder, driven in-process (no server, so the
figures are the hub's own CPU, not HTTP's):

1. the primitives: seal 64 bytes, one blind index, sign and verify a request;
2. the batch path: ``POST /api/v1/records/batch`` of N NDJSON records, lines
   checked in-process (``HUB_INGEST_WORKERS=0``): per-record cost;
3. ``POST /api/v1/messages`` by a county that signs its requests with the
   profile's algorithm (Ed25519 or SM2), each answer carrying a receipt the
   hub signs: per-message cost.

The closing lines give both profiles and the ratio national / international.
SQLite, so that the bench needs no server; the cryptography's share is the
same on PostgreSQL, the database's is larger there (see ``bench/ingest.py
--profile national`` for batch records/s on PostgreSQL in both profiles).

Measured 2026-12-07 on the 2-core machine (load 2.6 at the start; under a load
of 15 from other suites the same run gave batch ratios up to 5: measure idle)::

    .venv/bin/python -m bench.crypto
    international: batch 79.2 µs per record, POST /messages 5.39 ms per message
    national: batch 100.8 µs per record, POST /messages 6.21 ms per message
    primitive              international   national   ratio
    seal 64 bytes                 1.6 µs     6.3 µs     4.0
    blind index                   0.8 µs     1.2 µs     1.6
    sign request                 64.1 µs   666.2 µs    10.4
    verify request              107.9 µs   324.3 µs     3.0
    ratio national / international: batch 1.27, POST /messages 1.15

SM4-GCM goes through ``cryptography``'s generic ``Cipher`` (a new context per
field; there is no AEAD class for SM4), SM2 through Tongsuo's EVP interface.
POST /messages pays an SM2 verify (the county's signature) and an SM2 sign
(the receipt) per message: ~0.8 ms more, 15%.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from stdnum.cn import ric

from bench._support import add_smoke_argument, announce, scratch_folder, stop_on_sigterm
from exchange_hub import clock, crypto, migrations_util
from exchange_hub.app import create_app
from exchange_hub.config import Settings
from exchange_hub.context import HubContext, build_context
from exchange_hub.db import transaction
from exchange_hub.members import service as members
from exchange_hub.records import service as people

PROFILES = ("international", "national")
ORIGIN, DESTINATION = "110105", "440305"


def id_number(region: str, n: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=n // 400)
    first17 = f"{region}{born:%Y%m%d}{(n % 400) * 2:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def batch_body(count: int, start: int = 0) -> bytes:
    lines = []
    for n in range(start, start + count):
        person = {"id_number": id_number(DESTINATION, n), "name": "王秀英", "phone": "13800138000",
                  "address": "广东省深圳市南山区粤海街道科技园"}  # fmt: skip
        record = {"kind": "outflow", "person": person, "hukou_region": DESTINATION,
                  "residence_region": "110000", "moved_on": "2026-03-01"}  # fmt: skip
        lines.append(json.dumps(record, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def per_call(fn: Callable[[], object], rounds: int) -> float:
    """Seconds per call, the median of five runs of ``rounds`` calls."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        runs.append((time.perf_counter() - started) / rounds)
    return statistics.median(runs)


def primitives(ring: crypto.KeyRing, alg: str, rounds: int) -> dict[str, float]:
    private, public = crypto.generate_member_keypair(alg)
    stored = crypto.parse_public_key(public)
    payload = crypto.signing_string("POST", "/api/v1/messages", "1", "0" * 64)
    signature = crypto.sign_with_private_key(private, payload)
    text = "广东省深圳市南山区粤海街道科技园南区十二栋"[:21]  # ≈ 64 bytes of UTF-8
    few = max(rounds // 20, 5)

    def sign() -> object:
        return crypto.sign_with_private_key(private, payload)

    def verify() -> object:
        return crypto.verify_with_stored_key(stored, payload, signature)

    return {
        "seal 64 bytes": per_call(lambda: ring.encrypt(text, "records.address"), rounds),
        "blind index": per_call(lambda: ring.blind_index("440305198503140022"), rounds),
        "sign request": per_call(sign, few),
        "verify request": per_call(verify, few),
    }


class ProfileRun:
    """A hub of one profile on its own SQLite database, a signing county and its client."""

    def __init__(self, folder: Path, profile: str) -> None:
        url = f"sqlite:///{folder / f'{profile}.db'}"
        migrations_util.upgrade(url)
        settings = Settings(database_url=url, data_dir=folder / profile, crypto_profile=profile,
                            ingest_workers=0, log_json=True, rate_limit_per_minute=10**9,
                            secure_cookies=False)  # type: ignore[call-arg]  # fmt: skip
        self.hub: HubContext = build_context(settings, people=people)
        self.alg = "SM2" if profile == "national" else "Ed25519"
        self.private, public = crypto.generate_member_keypair(self.alg)
        with transaction(self.hub.sessions) as session:
            sender = members.add_member(
                session, name="bench", role="county", region=DESTINATION, public_key=public
            )
            self.sender = sender.api_key
            members.add_member(session, name="origin", role="county", region=ORIGIN)
        self.client = TestClient(create_app(context=self.hub))
        self.client.__enter__()
        logging.getLogger("exchange_hub.access").setLevel(logging.WARNING)  # a line per request

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.hub.dispose()

    def signed(self, method: str, path: str, body: bytes, **extra: str) -> dict[str, str]:
        timestamp = str(int(clock.unix_seconds()))
        payload = crypto.signing_string(method, path, timestamp, hashlib.sha256(body).hexdigest())
        return {"Authorization": f"Bearer {self.sender}", "X-Hub-Timestamp": timestamp,
                "X-Hub-Signature": crypto.sign_with_private_key(self.private, payload),
                **extra}  # fmt: skip

    def batch(self, body: bytes, count: int) -> float:
        """Seconds per record of one batch of ``count`` records."""
        path = "/api/v1/records/batch"
        headers = self.signed("POST", path, body, **{"Content-Type": "application/x-ndjson"})
        started = time.perf_counter()
        response = self.client.post(path, content=body, headers=headers)
        took = time.perf_counter() - started
        result = response.json()
        if response.status_code != 200 or result["accepted"] != count:
            raise RuntimeError(f"batch: {response.status_code} {response.text[:300]}")
        return took / count

    def messages(self, count: int, start: int = 0) -> float:
        """Seconds per ``POST /api/v1/messages``, each signed by the county, each receipted."""
        took = 0.0
        for n in range(start, start + count):
            message = {"kind": "query", "urgency": "normal", "to_region": ORIGIN,
                       "subject": {"id_number": id_number(ORIGIN, n)},
                       "purpose": "verify household registration for public services"}  # fmt: skip
            body = json.dumps(message).encode()
            headers = self.signed("POST", "/api/v1/messages", body,
                                  **{"Content-Type": "application/json"})  # fmt: skip
            started = time.perf_counter()
            response = self.client.post("/api/v1/messages", content=body, headers=headers)
            took += time.perf_counter() - started
            if response.status_code != 201 or response.json()["receipt"]["signature"]["alg"] != (
                self.alg
            ):
                raise RuntimeError(f"message: {response.status_code} {response.text[:300]}")
        return took / max(count, 1)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=400)
    add_smoke_argument(parser)
    args = parser.parse_args()
    if args.smoke:
        args.records, args.messages = 200, 20
    return args


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    announce(args)
    figures: dict[str, dict[str, float]] = {}
    with scratch_folder("crypto") as folder:
        for profile in PROFILES:
            figures[profile] = measure(folder, profile, args)
    report(figures)
    return 0


def measure(folder: Path, profile: str, args: argparse.Namespace) -> dict[str, Any]:
    run = ProfileRun(folder, profile)
    try:
        out = primitives(run.hub.keyring, run.alg, 200 if args.smoke else 20_000)
        warm = 20  # the first requests of a process pay for imports and caches
        run.batch(batch_body(warm, start=10**5), warm)
        run.messages(warm, start=10**5)
        out["batch"] = run.batch(batch_body(args.records), args.records)
        out["messages"] = run.messages(args.messages)
    finally:
        run.close()
    print(f"{profile}: batch {out['batch'] * 1e6:.1f} µs per record, "
          f"POST /messages {out['messages'] * 1e3:.2f} ms per message", flush=True)  # fmt: skip
    return out


def report(figures: dict[str, dict[str, float]]) -> None:
    world, gm = figures["international"], figures["national"]
    print(f"{'primitive':<22}{'international':>14}{'national':>11}{'ratio':>8}")
    for name in ("seal 64 bytes", "blind index", "sign request", "verify request"):
        print(f"{name:<22}{world[name] * 1e6:>11.1f} µs{gm[name] * 1e6:>8.1f} µs"
              f"{gm[name] / world[name]:>8.1f}")  # fmt: skip
    batch, messages = gm["batch"] / world["batch"], gm["messages"] / world["messages"]
    print(f"batch path   per record   {world['batch'] * 1e6:8.1f} µs {gm['batch'] * 1e6:8.1f} µs")
    print(f"POST /messages per message {world['messages'] * 1e3:6.2f} ms "
          f"{gm['messages'] * 1e3:6.2f} ms")  # fmt: skip
    print(f"ratio national / international: batch {batch:.2f}, POST /messages {messages:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())

"""Round-trip benchmark of the exchange: hub vs. a bare FastAPI endpoint, in one run.

    .venv/bin/python -m bench.roundtrip [--clients 8] [--seconds 10] [--workers 2]
        [--admin-url postgresql://postgres@127.0.0.1/test]

1. **bare**: a FastAPI app whose ``POST /api/v1/messages`` validates the same
   JSON (``MessageCreate``) and returns 201 — the ceiling of this machine.
2. **hub POST**: the hub on a fresh PostgreSQL database (uvicorn on
   127.0.0.1, same worker count), concurrent clients posting queries.
3. **hub cycle**: each client posts a query, the origin county pulls its
   inbox, and answers every item it got — the whole protocol.

Clients are threads with keep-alive ``httpx`` clients spread over a few
processes. Prints cycles/s, p50/p99 per step, and the ratio of hub POST
throughput to the bare endpoint (target ≥ 0.05 with p99 ≤ 100 ms).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url

from exchange_hub.exchange.routing import check_character
from exchange_hub.exchange.schemas import MessageCreate

ROOT = Path(__file__).resolve().parents[1]

# -- (a) the bare endpoint -------------------------------------------------------------
bare_app = FastAPI()


@bare_app.post("/api/v1/messages", status_code=201)
async def bare_post(payload: MessageCreate) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "state": "submitted", "deadline": "2026-12-23T15:59:59Z"}


# -- servers ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    target: str, workers: int, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/docs", timeout=1).status_code < 500:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server {target} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


# -- a fresh PostgreSQL hub --------------------------------------------------------------
def create_database(admin_url: str) -> str:
    name = f"hub_bench_{os.getpid()}"
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')  # type: ignore[arg-type]


def prepare_hub(database_url: str, data_dir: Path, pairs: int) -> list[dict[str, str]]:
    """Migrate, then create ``pairs`` (sender county, origin county) members with keys."""
    from exchange_hub import migrations_util
    from exchange_hub.config import Settings
    from exchange_hub.context import build_context
    from exchange_hub.db import transaction
    from exchange_hub.members import service as members
    from exchange_hub.models import Region

    migrations_util.upgrade(database_url)
    hub = build_context(Settings(database_url=database_url, data_dir=data_dir))
    try:
        with transaction(hub.sessions) as session:
            counties = session.scalars(
                select(Region.code)
                .where(Region.level == "county", Region.active.is_(True))
                .order_by(Region.code)
                .limit(2 * pairs)
            ).all()
            keys = []
            for sender, origin in zip(counties[0::2], counties[1::2], strict=True):
                s = members.add_member(session, name=f"s{sender}", role="county", region=sender)
                o = members.add_member(session, name=f"o{origin}", role="county", region=origin)
                keys.append({"sender": s.api_key, "origin": o.api_key, "origin_region": origin})
        return keys
    finally:
        hub.dispose()


# -- load ------------------------------------------------------------------------------------
def message_json(origin: str, seq: int) -> dict[str, Any]:
    body = f"{origin}19900101{seq % 1000:03d}"
    return {
        "kind": "query",
        "urgency": "normal",
        "subject": {"id_number": body + check_character(body)},
        "to_region": origin,
        "purpose": "verify household registration for public services",
        "case_ref": f"bench-{seq}",
    }


def _client_loop(
    mode: str, url: str, keys: dict[str, str], stop_at: float, out: dict[str, list[float]]
) -> None:
    sender = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {keys.get('sender', 'x')}"}
    )
    origin = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {keys.get('origin', 'x')}"}
    )
    seq = 0
    region = keys.get("origin_region", "110105")
    try:
        while time.perf_counter() < stop_at:
            seq += 1
            if not _timed(
                out,
                "post",
                lambda n=seq: sender.post("/api/v1/messages", json=message_json(region, n)),
                201,
            ):
                continue
            if mode != "cycle":
                continue
            pulled = _timed(
                out, "pull", lambda: origin.get("/api/v1/inbox?state=submitted&limit=20"), 200
            )
            for item in pulled.json()["items"] if pulled else []:
                path = f"/api/v1/messages/{item['id']}/feedback"
                if _timed(
                    out, "feedback", lambda p=path: origin.post(p, json={"result": "found"}), 200
                ):
                    out["cycles"].append(0.0)
    finally:
        sender.close()
        origin.close()


def _timed(out: dict[str, list[float]], step: str, call: Any, expected: int) -> Any:
    started = time.perf_counter()
    try:
        response = call()
    except httpx.HTTPError:
        out["errors"].append(0.0)
        return None
    out[step].append(time.perf_counter() - started)
    if response.status_code != expected:
        out["errors"].append(0.0)
        return None
    return response


def _process(args: tuple[str, str, list[dict[str, str]], float]) -> dict[str, list[float]]:
    mode, url, key_list, seconds = args
    out: dict[str, list[float]] = defaultdict(list)
    stop_at = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=_client_loop, args=(mode, url, keys, stop_at, out))
        for keys in key_list
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(out)


def run_load(
    mode: str, url: str, keys: list[dict[str, str]], seconds: float, procs: int
) -> dict[str, Any]:
    chunks = [keys[i::procs] for i in range(procs)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        parts = pool.map(_process, [(mode, url, chunk, seconds) for chunk in chunks if chunk])
    elapsed = time.perf_counter() - started
    merged: dict[str, list[float]] = defaultdict(list)
    for part in parts:
        for step, values in part.items():
            merged[step].extend(values)
    return {"elapsed": min(elapsed, seconds + 1.0), "seconds": seconds, "samples": merged}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def summarise(name: str, result: dict[str, Any]) -> dict[str, Any]:
    samples, seconds = result["samples"], result["seconds"]
    steps = {
        step: {"n": len(v), "per_s": len(v) / seconds, "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)}
        for step, v in samples.items()
        if step in ("post", "pull", "feedback")
    }
    return {
        "phase": name,
        "steps": steps,
        "cycles_per_s": len(samples.get("cycles", [])) / seconds,
        "errors": len(samples.get("errors", [])),
    }


def print_phase(summary: dict[str, Any]) -> None:
    print(f"\n[{summary['phase']}]  errors: {summary['errors']}")
    if summary["cycles_per_s"]:
        print(f"  cycles/s: {summary['cycles_per_s']:.1f}")
    for step, s in summary["steps"].items():
        rate, p50, p99 = s["per_s"], s["p50_ms"], s["p99_ms"]
        print(f"  {step:9s} {rate:8.1f}/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   (n={s['n']})")


def measure_bare(args: argparse.Namespace, name: str) -> dict[str, Any]:
    bare, bare_url = start_server("bench.roundtrip:bare_app", args.workers, {})
    try:
        run_load("post", bare_url, [{}] * args.clients, 2.0, args.procs)  # warm-up
        return summarise(
            name, run_load("post", bare_url, [{}] * args.clients, args.seconds, args.procs)
        )
    finally:
        stop(bare)


# -- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (both apps)")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("HUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1/test"),
    )
    args = parser.parse_args()

    bare_before = measure_bare(args, "bare FastAPI validate + 201 (before the hub)")
    database_url = create_database(args.admin_url)
    data_dir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    try:
        keys = prepare_hub(database_url, data_dir, 2 * args.clients + 1)
        env = {
            "HUB_DATABASE_URL": database_url,
            "HUB_DATA_DIR": str(data_dir),
            "HUB_RATE_LIMIT_PER_MINUTE": "10000000",
        }
        hub, hub_url = start_server("exchange_hub.asgi:app", args.workers, env)
        try:
            run_load("post", hub_url, keys[-1:] * args.clients, 2.0, args.procs)  # warm-up
            post_result = summarise(
                "hub POST /messages",
                run_load("post", hub_url, keys[: args.clients], args.seconds, args.procs),
            )
            cycle_keys = keys[args.clients : 2 * args.clients]
            cycle_result = summarise(
                "hub cycle: post, origin pulls inbox, feedback",
                run_load("cycle", hub_url, cycle_keys, args.seconds, args.procs),
            )
        finally:
            stop(hub)
    finally:
        drop_database(args.admin_url, database_url)

    # The baseline is measured before and after the hub: the machine's load drifts.
    bare_after = measure_bare(args, "bare FastAPI validate + 201 (after the hub)")
    for summary in (bare_before, bare_after, post_result, cycle_result):
        print_phase(summary)
    bare_result = {"before": bare_before, "after": bare_after}
    bare_rate = (bare_before["steps"]["post"]["per_s"] + bare_after["steps"]["post"]["per_s"]) / 2
    hub_rate = post_result["steps"]["post"]["per_s"]
    ratio = hub_rate / bare_rate if bare_rate else float("nan")
    print(f"\nbare endpoint, mean of before and after: {bare_rate:.1f}/s")
    p99 = post_result["steps"]["post"]["p99_ms"]
    verdict = "meets" if ratio >= 0.05 and p99 <= 100 else "MISSES"
    print(
        f"\nratio hub POST /messages ÷ bare endpoint: {ratio:.3f}  (hub p99 {p99:.1f} ms)  "
        f"— {verdict} the target ratio ≥ 0.05 with p99 ≤ 100 ms"
    )
    print(
        f"clients {args.clients}, uvicorn workers {args.workers}, {args.seconds:.0f} s per phase, "
        f"{os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(
        json.dumps(
            {
                "bare": bare_result,
                "hub_post": post_result,
                "hub_cycle": cycle_result,
                "ratio": ratio,
            },
            default=float,
        )
    )


if __name__ == "__main__":
    main()

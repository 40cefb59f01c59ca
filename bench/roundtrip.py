"""Round-trip benchmark of the exchange: hub vs. a bare FastAPI endpoint, in one run.

    .venv/bin/python -m bench.roundtrip [--clients 8] [--seconds 10] [--workers 2]
        [--admin-url postgresql://postgres@127.0.0.1/test] [--smoke]

1. **bare**: a FastAPI app whose ``POST /api/v1/messages`` validates the same
   JSON (``MessageCreate``) and returns 201 — the ceiling of this machine.
2. **hub POST**: the hub on a fresh PostgreSQL database (uvicorn on
   127.0.0.1, same worker count), concurrent clients posting queries.
3. **hub cycle**: each client posts a query, the origin county pulls its
   inbox, and answers every item it got — the whole protocol.

Clients are threads with keep-alive ``httpx`` clients spread over a few
processes. Prints cycles/s, p50/p99 per step, and the ratio of hub POST
throughput to the bare endpoint (target ≥ 0.05 with p99 ≤ 100 ms).

``--smoke``: one client, one worker, one second per phase, no warm-up; the
hub on PostgreSQL when ``--admin-url`` or ``HUB_TEST_DATABASE_URL`` names
one, else on a SQLite file. Any refused request fails the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from bench._support import (
    Server,
    add_admin_url_argument,
    add_smoke_argument,
    admin_url,
    announce,
    scratch_database,
    scratch_folder,
    stop_on_sigterm,
)
from exchange_hub.exchange.schemas import MessageCreate
from exchange_hub.id_numbers import expected_check_character

# -- (a) the bare endpoint -------------------------------------------------------------
bare_app = FastAPI()


@bare_app.post("/api/v1/messages", status_code=201)
async def bare_post(payload: MessageCreate) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "state": "submitted", "deadline": "2026-12-23T15:59:59Z"}


# -- a fresh hub database -------------------------------------------------------------
@contextmanager
def hub_database(args: argparse.Namespace, folder: Path) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; in smoke mode without
    PostgreSQL, a SQLite file in the run's folder."""
    admin = admin_url(args)
    if admin is None:
        print("no PostgreSQL given: the hub runs on SQLite")
        yield f"sqlite:///{folder / 'hub.db'}"
        return
    with scratch_database(admin, "roundtrip") as url:
        yield url


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
Samples = dict[str, list[Any]]  # step -> seconds per request; "errors" -> what went wrong


def message_json(origin: str, seq: int) -> dict[str, Any]:
    body = f"{origin}19900101{seq % 1000:03d}"
    return {
        "kind": "query",
        "urgency": "normal",
        "subject": {"id_number": body + expected_check_character(body)},
        "to_region": origin,
        "purpose": "verify household registration for public services",
        "case_ref": f"bench-{seq}",
    }


class Load(NamedTuple):
    """One process's share of a phase: its clients and how long they run."""

    mode: str  # "post" | "cycle"
    url: str
    keys: list[dict[str, str]]
    seconds: float
    min_rounds: int  # rounds each client completes however long they take (smoke)
    timeout: float  # seconds per request


def _client_loop(load: Load, keys: dict[str, str], stop_at: float, out: Samples) -> None:
    sender = httpx.Client(
        base_url=load.url,
        headers={"Authorization": f"Bearer {keys.get('sender', 'x')}"},
        timeout=load.timeout,
    )
    origin = httpx.Client(
        base_url=load.url,
        headers={"Authorization": f"Bearer {keys.get('origin', 'x')}"},
        timeout=load.timeout,
    )
    seq = 0
    region = keys.get("origin_region", "110105")
    try:
        while seq < load.min_rounds or time.perf_counter() < stop_at:
            seq += 1
            if not _timed(
                out,
                "post",
                lambda n=seq: sender.post("/api/v1/messages", json=message_json(region, n)),
                201,
            ):
                continue
            if load.mode == "cycle":
                _answer_inbox(origin, out)
    finally:
        sender.close()
        origin.close()


def _answer_inbox(origin: httpx.Client, out: Samples) -> None:
    """The origin county pulls what was sent to it and answers each item: a cycle each."""
    pulled = _timed(out, "pull", lambda: origin.get("/api/v1/inbox?state=submitted&limit=20"), 200)
    for item in pulled.json()["items"] if pulled else []:
        path = f"/api/v1/messages/{item['id']}/feedback"
        if _timed(out, "feedback", lambda p=path: origin.post(p, json={"result": "found"}), 200):
            out["cycles"].append(0.0)


def _timed(out: Samples, step: str, call: Any, expected: int) -> Any:
    started = time.perf_counter()
    try:
        response = call()
    except httpx.HTTPError as exc:
        out["errors"].append(f"{step}: {exc!r}")
        return None
    out[step].append(time.perf_counter() - started)
    if response.status_code != expected:
        out["errors"].append(f"{step}: {response.status_code} {response.text[:300]}")
        return None
    return response


def _process(load: Load) -> Samples:
    out: Samples = defaultdict(list)
    stop_at = time.perf_counter() + load.seconds
    threads = [
        threading.Thread(target=_client_loop, args=(load, keys, stop_at, out)) for keys in load.keys
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(out)


def run_load(
    args: argparse.Namespace, pool: Pool, mode: str, url: str, keys: list[dict[str, str]],
    seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """Clients spread over the ``--procs`` processes of ``pool`` (started once per run)."""
    procs = args.procs
    loads = [Load(mode, url, keys[i::procs], seconds, args.min_rounds, args.timeout)
             for i in range(procs)]  # fmt: skip
    started = time.perf_counter()
    parts = pool.map(_process, [load for load in loads if load.keys])
    elapsed = time.perf_counter() - started
    merged: Samples = defaultdict(list)
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
        "first_error": next(iter(samples.get("errors", [])), None),
    }


def print_phase(summary: dict[str, Any]) -> None:
    print(f"\n[{summary['phase']}]  errors: {summary['errors']}")
    if summary["first_error"]:
        print(f"  first error: {summary['first_error']}")
    if summary["cycles_per_s"]:
        print(f"  cycles/s: {summary['cycles_per_s']:.1f}")
    for step, s in summary["steps"].items():
        rate, p50, p99 = s["per_s"], s["p50_ms"], s["p99_ms"]
        print(f"  {step:9s} {rate:8.1f}/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   (n={s['n']})")


def measure_bare(args: argparse.Namespace, pool: Pool, folder: Path, when: str) -> dict[str, Any]:
    log = folder / f"bare-{when}.log"
    with Server("bench.roundtrip:bare_app", env={}, log=log, workers=args.workers,
                ready_path="/docs") as bare:  # fmt: skip
        clients = [{}] * args.clients
        if args.warm_up:
            run_load(args, pool, "post", bare.url, clients, args.warm_up)
        result = run_load(args, pool, "post", bare.url, clients, args.seconds)
    return summarise(f"bare FastAPI validate + 201 ({when} the hub)", result)


def measure_hub(
    args: argparse.Namespace, pool: Pool, folder: Path, database_url: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hub's POST alone, then the whole cycle, each with its own members."""
    data_dir = folder / "data"
    keys = prepare_hub(database_url, data_dir, 2 * args.clients + 1)
    env = {
        "HUB_DATABASE_URL": database_url,
        "HUB_DATA_DIR": str(data_dir),
        "HUB_RATE_LIMIT_PER_MINUTE": "10000000",
    }
    with Server("exchange_hub.asgi:app", env=env, log=folder / "hub.log",
                workers=args.workers) as hub:  # fmt: skip
        if args.warm_up:
            run_load(args, pool, "post", hub.url, keys[-1:] * args.clients, args.warm_up)
        post_result = summarise(
            "hub POST /messages",
            run_load(args, pool, "post", hub.url, keys[: args.clients], args.seconds),
        )
        cycle_keys = keys[args.clients : 2 * args.clients]
        cycle_result = summarise(
            "hub cycle: post, origin pulls inbox, feedback",
            run_load(args, pool, "cycle", hub.url, cycle_keys, args.seconds),
        )
    return post_result, cycle_result


def failures(smoke: bool, *summaries: dict[str, Any]) -> list[str]:
    """Phases whose figures cannot stand: no request succeeded, or (smoke) any was refused."""
    found = []
    for summary in summaries:
        post = summary["steps"].get("post", {"n": 0})
        if post["n"] == 0 or (smoke and summary["errors"]):
            found.append(
                f"{summary['phase']}: {post['n']} posts, {summary['errors']} errors "
                f"(first: {summary['first_error']})"
            )
        if "cycle" in summary["phase"] and not summary["cycles_per_s"]:
            found.append(f"{summary['phase']}: no cycle completed")
    return found


# -- main ---------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (both apps)")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    add_admin_url_argument(
        parser, os.environ.get("HUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    )
    add_smoke_argument(parser)
    args = parser.parse_args()
    args.warm_up, args.min_rounds, args.timeout = 2.0, 0, 5.0  # httpx's default timeout
    if args.smoke:
        # At least two rounds per client whatever the machine's load, and patient requests:
        # a smoke run shows the path works, so it must not depend on the machine being idle.
        args.clients, args.seconds, args.workers, args.procs = 1, 0.5, 1, 1
        args.warm_up, args.min_rounds, args.timeout = 0.0, 2, 60.0
    return args


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    announce(args)
    with ExitStack() as stack:
        folder = stack.enter_context(scratch_folder("roundtrip"))
        pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(args.procs))
        bare_before = measure_bare(args, pool, folder, "before")
        database_url = stack.enter_context(hub_database(args, folder))
        post_result, cycle_result = measure_hub(args, pool, folder, database_url)
        # The baseline is measured before and after the hub: the machine's load drifts.
        bare_after = measure_bare(args, pool, folder, "after")
    for summary in (bare_before, bare_after, post_result, cycle_result):
        print_phase(summary)
    report(args, bare_before, bare_after, post_result, cycle_result)
    problems = failures(args.smoke, bare_before, bare_after, post_result, cycle_result)
    if problems:
        print("FAILED:", *problems, sep="\n  ")
        return 1
    return 0


def report(
    args: argparse.Namespace, bare_before: dict[str, Any], bare_after: dict[str, Any],
    post_result: dict[str, Any], cycle_result: dict[str, Any],
) -> None:  # fmt: skip
    bare_rate = (_rate(bare_before) + _rate(bare_after)) / 2
    hub_rate = _rate(post_result)
    ratio = hub_rate / bare_rate if bare_rate else float("nan")
    print(f"\nbare endpoint, mean of before and after: {bare_rate:.1f}/s")
    p99 = post_result["steps"].get("post", {}).get("p99_ms", float("nan"))
    verdict = "meets" if ratio >= 0.05 and p99 <= 100 else "MISSES"
    if args.smoke:
        verdict = "smoke mode, says nothing about"
    print(
        f"\nratio hub POST /messages ÷ bare endpoint: {ratio:.3f}  (hub p99 {p99:.1f} ms)  "
        f"— {verdict} the target ratio ≥ 0.05 with p99 ≤ 100 ms"
    )
    print(
        f"clients {args.clients}, uvicorn workers {args.workers}, {args.seconds:g} s per phase, "
        f"{os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}"
    )
    bare_result = {"before": bare_before, "after": bare_after}
    everything = {"bare": bare_result, "hub_post": post_result, "hub_cycle": cycle_result,
                  "ratio": ratio, "smoke": args.smoke}  # fmt: skip
    print(json.dumps(everything, default=float))


def _rate(summary: dict[str, Any]) -> float:
    return float(summary["steps"].get("post", {}).get("per_s", 0.0))


if __name__ == "__main__":
    raise SystemExit(main())

"""Concurrent bulletin exports: do ten XLSX exports wait for each other? (issue 16)

    .venv/bin/python -m bench.exports --n 1000000           # 10 exports, one server worker per CPU
    .venv/bin/python -m bench.exports --smoke               # 5,000 messages, seconds

1. Loads N messages into a fresh PostgreSQL database (``bench.bulletin``'s
   generator: a year of skewed traffic over every county) and builds the
   aggregates once, as the worker's ``metrics.refresh`` job keeps them.
2. Serves the hub with uvicorn, one worker process per CPU (``--workers``).
3. Times one ``GET /api/v1/bulletin?format=xlsx`` alone (median of
   ``--runs``), then ``--exports`` of them started at once from threads.

The figure is the ratio of the concurrent batch's time to what it would take
if the exports only shared the CPUs: ``exports × one / workers``. About 1
means no serialisation; a global lock held while exporting (as before issue
16: every figures read refreshed the aggregates under one advisory lock, and
built the XLSX inside that transaction) shows as about ``workers``: the
exports ran one after another.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

from bench._support import (
    Server,
    add_admin_url_argument,
    add_smoke_argument,
    announce,
    require_postgres,
    scratch_database,
    scratch_folder,
    stop_on_sigterm,
)
from bench.bulletin import last_complete_month, load
from exchange_hub import clock, migrations_util
from exchange_hub.config import Settings
from exchange_hub.context import build_context
from exchange_hub.db import transaction
from exchange_hub.members import service as members
from exchange_hub.metrics import aggregates


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="messages to load")
    add_admin_url_argument(parser, "postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument("--exports", type=int, default=10, help="exports started at once")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--region", default="440000", help="the bulletin's region")
    parser.add_argument("--level", default="county", help="the bulletin's level")
    parser.add_argument("--runs", type=int, default=3, help="single exports timed (median)")
    parser.add_argument("--seed", type=int, default=20261202)
    add_smoke_argument(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.runs, args.exports, args.workers = 5_000, 1, 3, 2
    args.period = last_complete_month(clock.now())
    return args


def prepare(url: str, data_dir: Path, args: argparse.Namespace) -> str:
    """Migrate, load, build the aggregates; the API key of a nation admin."""
    migrations_util.upgrade(url)
    started = time.perf_counter()
    load(url, args.n, args.seed, clock.now())
    print(f"loaded {args.n:,} messages in {time.perf_counter() - started:.1f} s")
    hub = build_context(Settings(database_url=url, data_dir=data_dir, log_json=False))
    try:
        started = time.perf_counter()
        with transaction(hub.sessions) as session:
            aggregates.rebuild(session)
            admin = members.add_member(session, name="bench admin", role="admin", region="000000")
        print(f"aggregates built in {time.perf_counter() - started:.1f} s")
        return admin.api_key
    finally:
        hub.dispose()


def export(url: str, api_key: str, args: argparse.Namespace) -> tuple[float, int]:
    """One XLSX export: seconds and size in bytes; raises on anything but 200."""
    params = {"region": args.region, "period": args.period, "level": args.level, "format": "xlsx"}
    headers = {"Authorization": f"Bearer {api_key}"}
    started = time.perf_counter()
    response = httpx.get(f"{url}/api/v1/bulletin", params=params, headers=headers, timeout=600)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"export answered {response.status_code}: {response.text[:300]}")
    return seconds, len(response.content)


def concurrently(url: str, api_key: str, args: argparse.Namespace) -> tuple[float, list[float]]:
    """``args.exports`` exports released at the same instant: the batch's wall time, each one's."""
    gate = threading.Barrier(args.exports + 1)
    times: list[float] = []
    errors: list[BaseException] = []

    def one() -> None:
        gate.wait()
        try:
            times.append(export(url, api_key, args)[0])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(args.exports)]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} exports failed, first: {errors[0]!r}")
    return time.perf_counter() - started, times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    admin = require_postgres(args, "it times exports against PostgreSQL")
    announce(args)
    with scratch_folder("exports") as folder, scratch_database(admin, "exports") as url:
        api_key = prepare(url, folder, args)
        env = {"HUB_DATABASE_URL": url, "HUB_DATA_DIR": str(folder), "HUB_LOG_JSON": "false",
               "HUB_RATE_LIMIT_PER_MINUTE": "1000000",
               "PROMETHEUS_MULTIPROC_DIR": str(folder)}  # fmt: skip
        server = Server("exchange_hub.asgi:app", env=env, log=folder / "hub.log",
                        workers=args.workers)  # fmt: skip
        with server:
            export(server.url, api_key, args)  # warm: imports, caches, first connections
            singles = [export(server.url, api_key, args) for _ in range(args.runs)]
            one = statistics.median(seconds for seconds, _ in singles)
            batch, each = concurrently(server.url, api_key, args)
    fair = args.exports * one / args.workers
    print(f"bulletin {args.region} {args.period} level {args.level}: "
          f"{singles[0][1]:,} bytes of XLSX")  # fmt: skip
    rows = [
        ("one export alone", f"{one:8.2f} s (median of {args.runs})"),
        (f"{args.exports} exports at once", f"{batch:8.2f} s (each {min(each):.2f}–"
         f"{max(each):.2f} s; {args.workers} server workers)"),
        ("time if they only share the CPUs", f"{fair:8.2f} s ({args.exports} × one / workers)"),
    ]  # fmt: skip
    for label, value in rows:
        print(f"{label:<33}: {value}")
    print(f"ratio batch / shared-CPU time    : {batch / fair:8.2f} "
          f"(1 = no serialisation; {args.workers} = one after another)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

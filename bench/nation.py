"""Nation-scale load: a month-end day of N counties played against a hub of the bench's own.

    .venv/bin/python -m bench.nation [--profile bench/profiles/province.toml]
        [--minutes 10] [--scale 1] [--start 10:00] [--workers 2] [--pooler]
        [--procs 2] [--threads 16] [--admin-url postgresql://…/test] [--smoke]

The profile (``bench/profiles/*.toml``: ``province`` ≈ 120 counties of Guangdong,
``nation`` every county, ``tiny`` for ``--smoke``) gives the counties, their
volumes per day, office hours with a lunch dip, and the skew of migration;
``bench/_nation_plan.py`` turns it into every request of the day (night batches,
queries and answers, look-ups, change pulls, admins' exports), apart from sending
them. The bench then

1. creates a PostgreSQL database of its own (``--smoke`` without PostgreSQL: a
   SQLite file), migrates it, adds a national admin with the hub's CLI
   (``exchange-hub members add``) and starts the hub on 127.0.0.1 (``--workers``
   uvicorn processes; ``--pooler`` through a PgBouncer of its own in transaction
   pooling, with ``HUB_DATABASE_POOLER=transaction``);
2. adds every county and admin through the hub's API (``POST /api/v1/members``);
3. **preload**: every county pushes its stock (``preload_records_per_county``)
   through the batch endpoint, as fast as it goes: records/s and the database's
   growth per 1,000 records;
4. **settle**: every county pulls its inbox once (what the preload's inflows sent it),
   every job runs once (the figures fold it in); then, untimed, the **backlog**: the
   day's earlier queries that the window's answers need;
5. **window**: plays ``--minutes`` simulated minutes from ``--start`` at ``--scale``
   simulated seconds per real second, each request started at its time.

It prints, per step, what was offered and sustained (requests/s and their ratio),
p50/p95/p99, errors by step and status (any error fails the run), the CPU seconds of
the hub's and PostgreSQL's processes, and the database's growth. Times of day are
simulated; dates come from ``exchange_hub.clock`` (the run works at any date).

Measured 2026-12-07 on the 2-core machine shared with other sessions' suites (load
average 4.9 at the start, 3.1 at the end), ``--profile bench/profiles/province.toml
--minutes 10 --workers 2`` (Guangdong, 120 counties, 10:00–10:10 of a month-end day
at 1×, direct to PostgreSQL, one job worker):

    preload   60,000 records (half inflows) in 120 batches: 1,607 records/s;
              CPU per record hub 374 µs, PostgreSQL 112 µs, worker 37 µs;
              database +209 MiB = 3.57 KiB per record (with the 60,232 messages
              the inflows opened, 141,528 change-feed rows)
    window    step      planned  offered/s  sustained/s  p50 ms  p95 ms  p99 ms
              query         161      0.27       0.27       23.6    99.7  1064.0
              feedback       78      0.13       0.13       22.9    96.1    99.9
              lookup        345      0.57       0.57       22.3   104.3   999.0
              changes        17      0.03  (98 pages)      31.8   109.4   422.4
              inbox     (129 pulls, answering)             161.9   565.3   810.9
              export          2      0.003                12674   15989   15989
              sustained/offered 1.000, errors 0, start lag p99 28 ms;
              CPU in the 600 s: hub 31.1 s, PostgreSQL 26.6 s, worker 58.8 s
              (0.19 cores; the worker folds the deliveries of the preload's
              30,000 inflow queries the counties' first pulls took in)

The same 10 minutes at ``--scale 20`` (30 real s, 20 planned requests/s; load 4.8 →
10.9; counties now take in their inboxes before the window): sustained/offered 0.986,
errors 0; p99 query 1.5 s, answer 1.4 s, look-up 2.0 s, export 28 s; CPU hub 18.4 s
(mostly the two exports), PostgreSQL 6.5 s, worker 3.4 s.

The province's month-end peak is ~1 request/s: the hub keeps pace with room to
spare; the exports (bulletin XLSX/CSV over the whole month) are the slow step.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench._nation_plan import Day, Event, Window, plan_day, window
from bench._nation_profile import PROFILES, Profile, load_profile, minute_of_day
from bench._nation_report import PhaseResult, print_phase, print_preload
from bench._nation_run import Outcome, Share, play
from bench._pgbouncer import PgBouncer, pooler_env
from bench._support import (
    ROOT,
    CpuMeter,
    Server,
    add_admin_url_argument,
    add_smoke_argument,
    admin_url,
    announce,
    database_backends,
    hub_database,
    process_tree,
    scratch_folder,
    stop_on_sigterm,
    stop_process,
)
from exchange_hub import clock


# -- the hub under test ---------------------------------------------------------------
def cli_admin(database_url: str, data_dir: Path) -> subprocess.Popen[str]:
    """The national admin, added with the hub's own command line (started now, read with
    ``admin_key`` once the hub is up: the two start side by side)."""
    env = {**os.environ, "HUB_DATABASE_URL": database_url, "HUB_DATA_DIR": str(data_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "exchange_hub.cli", "members", "add", "--region", "000000",
         "--role", "admin", "--name", "bench national admin"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def admin_key(command: subprocess.Popen[str]) -> str:
    """The API key ``exchange-hub members add`` printed."""
    out, err = command.communicate(timeout=120)
    key = next((line.rsplit(" ", 1)[1] for line in out.splitlines()
                if line.startswith("API key")), None)  # fmt: skip
    if command.returncode or key is None:
        raise RuntimeError(f"exchange-hub members add failed:\n{out}\n{err}")
    return key


def add_members(url: str, admin_key: str, day: Day) -> dict[str, str]:
    """Every county of the plan and every admin, through ``POST /api/v1/members``."""
    wanted = [(c, "county") for c in day.counties] + [
        (a, "admin") for a in dict.fromkeys(day.admins)
    ]
    headers = {"Authorization": f"Bearer {admin_key}"}

    def add(client: httpx.Client, region: str, role: str) -> tuple[str, str]:
        body = {"region": region, "role": role, "name": f"{region} {role} (bench)"}
        answer = client.post("/api/v1/members", json=body, headers=headers)
        if answer.status_code != 201:
            raise RuntimeError(f"adding {role} {region}: {answer.status_code} {answer.text}")
        return region, str(answer.json()["api_key"])

    with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(8) as pool:
        return dict(pool.map(lambda w: add(client, *w), wanted))


def database_bytes(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database or "")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0


COUNTED = ("records", "record_versions", "messages", "message_events", "changes", "audit_events")


def table_sizes(database_url: str) -> dict[str, dict[str, int]]:
    """Bytes per table with its indexes and TOAST, largest first, and the rows of the
    big ones (PostgreSQL)."""
    if not database_url.startswith("postgresql"):
        return {}
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables "
            "ORDER BY 2 DESC LIMIT 10"
        ).fetchall()
        sizes = {str(name): {"bytes": int(size)} for name, size in rows}
        for name in set(COUNTED) & set(sizes):
            count = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
            sizes[name]["rows"] = int(count[0]) if count else 0
    return sizes


# -- phases ---------------------------------------------------------------------------
def shares(day: Day, events: tuple[Event, ...], base: Share, procs: int) -> list[Share]:
    """Each process plays the events of its counties (and of its admins)."""
    owner = {county: i % procs for i, county in enumerate(day.counties)}
    for i, admin in enumerate(dict.fromkeys(day.admins)):
        owner.setdefault(admin, i % procs)
    parts: list[list[Event]] = [[] for _ in range(procs)]
    for event in events:
        parts[owner[event.county]].append(event)
    return [replace(base, events=tuple(part)) for part in parts if part]


def run_phase(pool: Any, parts: list[Share]) -> Outcome:
    outcome = Outcome()
    for part in pool.map(play, parts):
        outcome.merge(part)
    return outcome


class Meters:
    """CPU seconds of the hub's processes, PostgreSQL's backends (and PgBouncer) per phase."""

    def __init__(self, hub: Server, database_url: str, admin: str | None,
                 bouncer: PgBouncer | None) -> None:  # fmt: skip
        self.meters = {"hub": CpuMeter(hub.processes)}
        database = make_url(database_url).database
        if admin and database and database_url.startswith("postgresql"):
            self.meters["postgres"] = CpuMeter(lambda: database_backends(admin, database))
        if bouncer is not None:
            self.meters["pgbouncer"] = CpuMeter(lambda: [bouncer.pid])

    def start(self) -> None:
        for meter in self.meters.values():
            meter.start()

    def stop(self) -> dict[str, float]:
        return {name: meter.stop() for name, meter in self.meters.items()}


def measured(pool: Any, parts: list[Share], meters: Meters, database_url: str,
             wall_seconds: float) -> PhaseResult:  # fmt: skip
    """Run a phase; its real duration runs from its start (``start_at`` when paced) to the
    last answer, and is at least ``wall_seconds`` (the window's length)."""
    size_before = database_bytes(database_url)
    meters.start()
    started = (parts[0].start_at if parts else None) or time.monotonic()
    outcome = run_phase(pool, parts)
    elapsed = max(wall_seconds, outcome.last_done - started)
    cpu = meters.stop()
    return PhaseResult(outcome, elapsed, cpu, database_bytes(database_url) - size_before)


# -- main -------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, default=PROFILES / "province.toml")
    parser.add_argument("--minutes", type=float, help="simulated minutes (default: the profile's)")
    parser.add_argument("--scale", type=float, help="simulated seconds per real second")
    parser.add_argument("--start", help="Beijing time the window starts, HH:MM")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of the hub")
    parser.add_argument("--pooler", action="store_true", help="through PgBouncer (transaction)")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=16, help="client threads per process")
    parser.add_argument("--seed", type=int, default=2026)
    add_admin_url_argument(
        parser, os.environ.get("HUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    )
    add_smoke_argument(parser)
    args = parser.parse_args()
    args.timeout = 60.0
    if args.smoke:
        args.profile, args.workers, args.procs, args.threads = PROFILES / "tiny.toml", 1, 1, 4
        args.pooler = False
    return args


def configured(args: argparse.Namespace) -> Profile:
    profile = load_profile(args.profile)
    c = profile.clock
    start = minute_of_day(args.start) if args.start else c.start
    clock_ = replace(c, scale=args.scale or c.scale, minutes=args.minutes or c.minutes, start=start)
    return replace(profile, clock=clock_)


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    announce(args)
    profile = configured(args)
    day = plan_day(profile, seed=args.seed)
    c = profile.clock
    played = window(day, c.start * 60.0, c.minutes * 60.0)
    with ExitStack() as stack:
        folder = stack.enter_context(scratch_folder("nation"))
        database_url = stack.enter_context(hub_database(args, folder, "nation"))
        result = run(args, stack, profile, day, played, folder, database_url)
    print(json.dumps(result, default=float))
    return 1 if result["errors"] else 0


def run(args: argparse.Namespace, stack: ExitStack, profile: Profile, day: Day, played: Window,
        folder: Path, database_url: str) -> dict[str, Any]:  # fmt: skip
    from exchange_hub import migrations_util

    data_dir = folder / "data"
    migrations_util.upgrade(database_url)
    adding_admin = cli_admin(database_url, data_dir)
    # Started before the hub: the client processes import while the hub starts.
    pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(args.procs))
    hub, meters = start_hub(args, stack, folder, database_url)
    national = admin_key(adding_admin)
    keys = add_members(hub.url, national, day) | {"000000": national}
    base = Share(url=hub.url, keys=keys, events=(),
                 people=(day.counties, day.out_weights, day.in_weights,
                         profile.volumes.inflow_share),
                 window_start=played.start, scale=profile.clock.scale, start_at=None,
                 threads=args.threads, timeout=args.timeout,
                 period=f"{clock.today():%Y-%m}")  # fmt: skip
    stock = profile.volumes.preload_records_per_county
    preload_events = tuple(Event(0.0, "batch", county, n=stock) for county in day.counties)
    preload = measured(pool, shares(day, preload_events, base, args.procs), meters,
                       database_url, 0.0)  # fmt: skip
    print_preload(preload)
    # Each county takes in what the preload's inflows sent it, as its sync job would have
    # overnight; the jobs then fold those deliveries into the figures.
    drains = tuple(Event(0.0, "drain", county) for county in day.counties)
    run_phase(pool, shares(day, drains, base, args.procs))
    settle(database_url, data_dir)
    run_phase(pool, shares(day, played.backlog, base, args.procs))
    timed = replace(base, start_at=time.monotonic() + 0.2)
    result = measured(pool, shares(day, played.events, timed, args.procs), meters,
                      database_url, played.seconds / profile.clock.scale)  # fmt: skip
    figures = print_phase(args, profile, played, result, preload)
    figures["tables"] = sizes = table_sizes(database_url)
    records = max(preload.outcome.records + result.outcome.records, 1)
    print(f"tables with their indexes, per 1,000 records pushed ({records:,}):")
    for name, size in sizes.items():
        n = size.get("rows")
        rows = f", {n:,} rows, {size['bytes'] / max(n, 1):,.0f} B/row" if n is not None else ""
        print(f"  {name:22s} {size['bytes'] / records * 1000 / 1024:9,.0f} KiB{rows}")
    return figures


def start_hub(args: argparse.Namespace, stack: ExitStack, folder: Path,
              database_url: str) -> tuple[Server, Meters]:  # fmt: skip
    """The API (``--workers`` uvicorn processes, through PgBouncer with ``--pooler``) and
    one job worker (``exchange-hub worker``: figures refresh, pushes, purges), as deployed;
    the CPU meters of their processes."""
    env = {"HUB_DATA_DIR": str(folder / "data"), "HUB_RATE_LIMIT_PER_MINUTE": "100000000",
           "HUB_INGEST_WORKERS": "1", "HUB_DATABASE_URL": database_url}  # fmt: skip
    bouncer = None
    if args.pooler and database_url.startswith("postgresql"):
        bouncer = stack.enter_context(PgBouncer(database_url, folder / "pgbouncer"))
        env |= pooler_env() | {"HUB_DATABASE_URL": bouncer.url}
    hub = stack.enter_context(Server("exchange_hub.asgi:app", env=env, log=folder / "hub.log",
                                     workers=args.workers))  # fmt: skip
    meters = Meters(hub, database_url, admin_url(args), bouncer)
    if not args.smoke:  # a smoke run settles with one pass of the jobs (``settle``) alone
        with (folder / "worker.log").open("wb") as log:
            worker = subprocess.Popen([sys.executable, "-m", "exchange_hub.cli", "worker"],
                                      cwd=ROOT, env={**os.environ, **env}, stdout=log,
                                      stderr=log)  # fmt: skip
        stack.callback(stop_process, worker)
        meters.meters["worker"] = CpuMeter(lambda: process_tree(worker.pid))
    return hub, meters


def settle(database_url: str, data_dir: Path) -> None:
    """Every job once after the preload (the figures fold its messages in), so that the
    window starts where a hub whose worker kept up would be."""
    from exchange_hub.config import Settings
    from exchange_hub.context import build_context
    from exchange_hub.jobs import run_all

    started = time.monotonic()
    hub = build_context(Settings(database_url=database_url, data_dir=data_dir))
    try:
        failed = [name for name, result in run_all(hub).items() if "error" in result]
    finally:
        hub.dispose()
    print(f"  settled: every job once in {time.monotonic() - started:.1f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

"""Round-trip benchmark of the exchange: hub vs. a bare FastAPI endpoint, in one run.

    .venv/bin/python -m bench.roundtrip [--workers 1,2,4] [--pgbouncer] [--clients 8]
        [--seconds 10] [--wrk-connections 32] [--admin-url postgresql://…/test] [--smoke]

1. **statements**: the SQL statements of one ``POST /messages`` and of one whole
   cycle, counted in-process on the hub's engine (``bench/_statements.py``).
2. **bare**: a FastAPI app whose ``POST /api/v1/messages`` validates the same
   JSON (``MessageCreate``) and returns 201 — the ceiling of this machine —
   measured with ``wrk`` (``bench/wrk_post.lua``) and with the Python clients,
   before and after the hub, with as many uvicorn workers as the hub.
3. **hub POST**: the hub on a fresh PostgreSQL database (uvicorn on 127.0.0.1),
   posted to by the Python clients and by wrk.
4. **hub cycle**: each Python client posts a query, the origin county pulls its
   inbox and answers every item it got — the whole protocol.

Each hub phase runs for every ``--workers`` count, directly on PostgreSQL and,
with ``--pgbouncer``, through a PgBouncer of the bench's own in transaction
pooling mode (``bench/_pgbouncer.py``). CPU per message and per cycle is read
from /proc for the hub's processes and for the PostgreSQL backends of the
bench's database (and PgBouncer). After the load the audit chain is verified
and every message's change-feed entries checked to be in protocol order.

Ratios: hub POST/s and cycles/s against the bare endpoint measured with wrk
(the target ratio ≥ 0.05 with p99 ≤ 100 ms is read against it), and against
the bare endpoint measured with the Python clients (labelled: those clients
cap the bare endpoint on two cores and flatter the ratio).

``--smoke``: one client, one worker, half a second per phase (wrk one second,
one connection), no warm-up; PgBouncer too where it is installed; the hub on
PostgreSQL when ``--admin-url`` or ``HUB_TEST_DATABASE_URL`` names one, else
on a SQLite file. Any refused request fails the run. Without wrk the wrk lines
say they were skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench._load import print_phase, run_load, summarise
from bench._pgbouncer import PgBouncer, pgbouncer_binary, pooler_env
from bench._roundtrip_report import failures, print_statements, print_wrk, report_workers
from bench._statements import count_cycle, query_json
from bench._support import (
    CpuMeter,
    Server,
    add_admin_url_argument,
    add_smoke_argument,
    admin_url,
    announce,
    database_backends,
    hub_database,
    scratch_folder,
    stop_on_sigterm,
)
from bench._wrk import WrkOptions, run_wrk, wrk_binary
from exchange_hub.exchange.schemas import MessageCreate

MESSAGES = "/api/v1/messages"

# -- the bare endpoint -------------------------------------------------------------
bare_app = FastAPI()


@bare_app.post(MESSAGES, status_code=201)
async def bare_post(payload: MessageCreate) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "state": "submitted", "deadline": "2026-12-23T15:59:59Z"}


# -- a fresh hub database -------------------------------------------------------------
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


@dataclass
class Run:
    """What every phase of the run shares."""

    args: argparse.Namespace
    pool: Pool
    folder: Path
    database_url: str
    post_keys: list[dict[str, str]]  # shared by every POST phase: their origins never pull
    wrk_key: dict[str, str]
    fresh_keys: list[dict[str, str]]

    def take_keys(self, n: int) -> list[dict[str, str]]:
        """Members nobody used yet: a cycle's origins start with empty inboxes."""
        taken, self.fresh_keys = self.fresh_keys[:n], self.fresh_keys[n:]
        return taken

    @property
    def wrk(self) -> WrkOptions:
        a = self.args
        return WrkOptions(a.wrk_threads, a.wrk_connections, a.wrk_seconds)


# -- 1. statements ----------------------------------------------------------------------
def count_statements(run: Run) -> dict[str, dict[str, int]]:
    """One message and one cycle through the hub's ASGI app in this process."""
    with warnings.catch_warnings():  # Starlette suggests httpx2 to TestClient users
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from exchange_hub.app import create_app
    from exchange_hub.config import Settings
    from exchange_hub.context import build_context
    from exchange_hub.records import service as records

    settings = Settings(database_url=run.database_url, data_dir=run.folder / "data",
                        rate_limit_per_minute=10_000_000, log_json=False)  # fmt: skip
    hub = build_context(settings, people=records)
    (keys,) = run.take_keys(1)
    try:
        with TestClient(create_app(context=hub)) as client:
            logging.getLogger("exchange_hub.access").setLevel(logging.WARNING)  # no request lines
            return count_cycle(
                client, hub.engine, (keys["sender"], keys["origin"], keys["origin_region"])
            )
    finally:
        hub.dispose()


# -- 2. the bare endpoint ---------------------------------------------------------------
def measure_bare(run: Run, workers: int, when: str) -> dict[str, Any]:
    args = run.args
    log = run.folder / f"bare-{workers}-{when}.log"
    with Server("bench.roundtrip:bare_app", env={}, log=log, workers=workers,
                ready_path="/docs") as bare:  # fmt: skip
        clients: list[dict[str, str]] = [{}] * args.clients
        if args.warm_up:
            run_load(args, run.pool, "post", bare.url, clients, args.warm_up)
        python = summarise(
            f"bare FastAPI validate + 201, {workers} workers, Python clients ({when} the hub)",
            run_load(args, run.pool, "post", bare.url, clients, args.seconds),
        )
        wrk = run_wrk(bare.url + MESSAGES, query_json("110105", 1), run.wrk)
    return {"python": python, "wrk": wrk}


# -- 3-4. the hub ---------------------------------------------------------------------
def measure_hub(run: Run, workers: int, route: str) -> dict[str, Any]:
    """POST (Python clients, then wrk) and the cycle, on ``workers`` processes, direct
    or through PgBouncer; with the CPU the hub and PostgreSQL spent on each phase."""
    args, data_dir = run.args, run.folder / "data"
    env = {"HUB_DATA_DIR": str(data_dir), "HUB_RATE_LIMIT_PER_MINUTE": "10000000"}
    target = "exchange_hub.asgi:app"
    with ExitStack() as stack:
        bouncer = None
        url = run.database_url
        if route == "pgbouncer":
            bouncer = stack.enter_context(PgBouncer(url, run.folder / f"pgbouncer-{workers}"))
            url = bouncer.url
            env |= pooler_env()
        env["HUB_DATABASE_URL"] = url
        hub = stack.enter_context(
            Server(target, env=env, log=run.folder / f"hub-{workers}-{route}.log", workers=workers)
        )
        meters = _meters(run, hub, bouncer)
        if args.warm_up:
            run_load(args, run.pool, "post", hub.url, run.post_keys, args.warm_up)
        label = f"hub, {workers} workers, {route}"
        result: dict[str, Any] = {"workers": workers, "route": route}
        with _metered(meters, result, "post"):
            result["post"] = summarise(
                f"{label}: POST /messages, Python clients",
                run_load(args, run.pool, "post", hub.url, run.post_keys, args.seconds),
            )
        with _metered(meters, result, "post_wrk"):
            body = query_json(run.wrk_key["origin_region"], 1) | {"case_ref": "wrk-{n}"}
            authorization = f"Bearer {run.wrk_key['sender']}"
            result["post_wrk"] = run_wrk(
                hub.url + MESSAGES, body, run.wrk, authorization=authorization
            )
        with _metered(meters, result, "cycle"):
            result["cycle"] = summarise(
                f"{label}: cycle (post, origin pulls inbox, feedback), Python clients",
                run_load(args, run.pool, "cycle", hub.url, run.take_keys(args.clients),
                         args.seconds),
            )  # fmt: skip
    return result


def _meters(run: Run, hub: Server, bouncer: PgBouncer | None) -> dict[str, CpuMeter]:
    meters = {"hub": CpuMeter(hub.processes)}
    admin = admin_url(run.args)
    database = make_url(run.database_url).database
    if admin and database and run.database_url.startswith("postgresql"):
        meters["postgres"] = CpuMeter(lambda: database_backends(admin, database))
    if bouncer is not None:
        meters["pgbouncer"] = CpuMeter(lambda: [bouncer.pid])
    return meters


@contextmanager
def _metered(meters: dict[str, CpuMeter], result: dict[str, Any], phase: str) -> Iterator[None]:
    for meter in meters.values():
        meter.start()
    yield
    result[f"{phase}_cpu_s"] = {name: meter.stop() for name, meter in meters.items()}


# -- after the load: nothing lost, nothing out of order --------------------------------
def check_journals(run: Run) -> list[str]:
    """The audit chain verifies, and each message's change-feed entries follow the protocol."""
    from sqlalchemy import text

    from exchange_hub.audit.service import verify_chain
    from exchange_hub.config import Settings
    from exchange_hub.context import build_context

    hub = build_context(Settings(database_url=run.database_url, data_dir=run.folder / "data"))
    order = {"submitted": 0, "delivered": 1, "received": 2, "answered": 3}
    problems, last = [], {}
    try:
        with hub.sessions() as session:
            chain = verify_chain(session, hub.keyring)
            rows = session.execute(text(
                "SELECT object_id, action FROM changes WHERE object_type = 'message' ORDER BY seq"
            )).all()  # fmt: skip
    finally:
        hub.dispose()
    for object_id, action in rows:
        if order[action] <= last.get(object_id, -1):
            problems.append(f"message {object_id}: {action} after a later state in the feed")
        last[object_id] = order[action]
    if not chain.ok:
        problems.append(f"audit chain broken at row {chain.first_bad_id}: {chain.reason}")
    print(f"\naudit chain: {chain.checked:,} rows, {'intact' if chain.ok else 'BROKEN'}; "
          f"change feed: {len(rows):,} message changes of {len(last):,} messages, "
          f"{'in protocol order' if not problems else 'OUT OF ORDER'}")  # fmt: skip
    return problems


def measure_all(run: Run) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per worker count: the bare endpoint, the hub on each route, the bare endpoint again
    (the machine's load drifts; the baseline is the mean of both ends)."""
    bare, hubs = [], []
    for workers in run.args.workers:
        bare.append({"workers": workers, "when": "before", **measure_bare(run, workers, "before")})
        hubs.extend(measure_hub(run, workers, route) for route in routes(run.args))
        bare.append({"workers": workers, "when": "after", **measure_bare(run, workers, "after")})
    return bare, hubs


# -- main ---------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent Python clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--workers", type=_counts, default=[2],
                        help="uvicorn workers (hub and bare app), several as 1,2,4")  # fmt: skip
    parser.add_argument("--pgbouncer", action="store_true",
                        help="also through a PgBouncer in transaction pooling mode")  # fmt: skip
    parser.add_argument("--procs", type=int, default=2, help="Python client processes")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--wrk-connections", type=int, default=32)
    add_admin_url_argument(
        parser, os.environ.get("HUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    )
    add_smoke_argument(parser)
    args = parser.parse_args()
    args.warm_up, args.min_rounds, args.timeout = 2.0, 0, 5.0  # httpx's default timeout
    args.wrk_seconds = args.seconds
    if args.smoke:
        # At least two rounds per client whatever the machine's load, and patient requests:
        # a smoke run shows the path works, so it must not depend on the machine being idle.
        args.clients, args.seconds, args.workers, args.procs = 1, 0.5, [1], 1
        args.warm_up, args.min_rounds, args.timeout = 0.0, 2, 60.0
        args.wrk_threads, args.wrk_connections, args.wrk_seconds = 1, 1, 1.0
        args.pgbouncer = pgbouncer_binary() is not None and admin_url(args) is not None
    return args


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of counts: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("worker counts are 1 or more")
    return counts


def routes(args: argparse.Namespace) -> list[str]:
    if not args.pgbouncer:
        return ["direct"]
    if admin_url(args) is None:
        print("--pgbouncer needs PostgreSQL: the hub runs directly on SQLite")
        return ["direct"]
    return ["direct", "pgbouncer"]


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    announce(args)
    if wrk_binary() is None:
        print("wrk is not installed (Debian package wrk): the wrk lines are skipped")
    configurations = len(args.workers) * len(routes(args))
    with ExitStack() as stack:
        folder = stack.enter_context(scratch_folder("roundtrip"))
        pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(args.procs))
        database_url = stack.enter_context(hub_database(args, folder, "roundtrip"))
        # POST phases share members; every cycle phase and the statement count get fresh ones.
        keys = prepare_hub(database_url, folder / "data", (configurations + 1) * args.clients + 2)
        run = Run(args, pool, folder, database_url, post_keys=keys[: args.clients],
                  wrk_key=keys[args.clients], fresh_keys=keys[args.clients + 1 :])  # fmt: skip
        statements = count_statements(run)
        bare, hubs = measure_all(run)
        problems = check_journals(run)
    print_statements(statements)
    for ends in bare:
        print_phase(ends["python"])
        print_wrk(f"bare, {ends['workers']} workers, {ends['when']} the hub", ends["wrk"])
    for hub in hubs:
        print_phase(hub["post"])
        print_wrk(f"hub, {hub['workers']} workers, {hub['route']}: POST /messages", hub["post_wrk"])
        print_phase(hub["cycle"])
    for workers in args.workers:
        ends = {b["when"]: b for b in bare if b["workers"] == workers}
        report_workers(args, ends, [h for h in hubs if h["workers"] == workers])
    print(f"\nclients {args.clients}, wrk -t{args.wrk_threads} -c{args.wrk_connections}, "
          f"{args.seconds:g} s per phase, {os.cpu_count()} CPUs, "
          f"load average at the end {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(json.dumps({"statements": statements, "bare": bare, "hubs": hubs, "smoke": args.smoke},
                     default=float))  # fmt: skip
    problems += failures(args.smoke, bare, hubs)
    if problems:
        print("FAILED:", *problems, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

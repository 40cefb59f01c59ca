"""Figure reads from the streaming replica under write load, against the same reads from
the primary, with the replica's replay lag and the cluster's cold start (issue 18, (c)).

    .venv/bin/python -m bench.replica_reads [--seconds 20] [--writers 4] [--readers 2] [--smoke]

``deploy/cluster.sh`` starts the whole topology on 127.0.0.1 (primary, ``pg_basebackup``
replica, PgBouncer, Redis, two API processes, two workers, nginx; durable: fsync and
synchronous_commit on) and its cold start is timed. Beside it the bench starts one more API process
that reads its figures from the primary (``HUB_READ_DATABASE_URL`` empty), through the
same PgBouncer. Then for ``--seconds``, while ``--writers`` county systems post queries
and answer them through API node 2 (writes reach the primary through PgBouncer and stream
to the replica), ``--readers`` clients read, taking the two targets in turn so both read
the same data under the same load:

- ``replica``: through API node 1, which reads the replica;
- ``primary``: through the extra node, which reads the primary;

each read being the nation's figures (``GET /api/v1/metrics/exchange``, ``region=000000``,
by province), and every fifth also the console's overview (``GET /console/overview``,
the same period)
of a signed-in nation admin. Meanwhile, every 0.1 s: ``replay_lag`` of
``pg_stat_replication`` on the primary, and the catch-up time (the primary's current
LSN, then how long until the replica has replayed it). The ratio printed is replica
p50 ÷ primary p50 of the figures read. ``--smoke``: 2 s on a scratch cluster (figures
meaningless); it runs where the test run has PostgreSQL (the topology needs PostgreSQL's
binaries), so a suite on SQLite skips it.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from bench._cluster import Cluster, missing_packages
from bench._support import (
    Server,
    add_admin_url_argument,
    add_smoke_argument,
    announce,
    require_postgres,
    scratch_folder,
    stop_on_sigterm,
)  # fmt: skip
from exchange_hub import clock
from exchange_hub.config import Settings
from exchange_hub.context import HubContext, build_context
from exchange_hub.db import transaction
from exchange_hub.id_numbers import expected_check_character
from exchange_hub.members import service as members
from exchange_hub.periods import month_of
from exchange_hub.records import service as records
from exchange_hub.web import auth

ASKERS = ("440303", "440304", "440305", "440306", "440307", "440308")
ORIGINS = ("110101", "110102", "110105", "110106", "110107", "110108")
PASSWORD = "bench password, not a secret"
OVERVIEW_EVERY = 5  # one console overview per this many figures reads
UNLIMITED = {"HUB_RATE_LIMIT_PER_MINUTE": "100000000", "HUB_WORKER_INTERVAL_SECONDS": "1"}


@dataclass
class Samples:
    values: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, value: float) -> None:
        with self.lock:
            self.values.append(value)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.values)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def text(self, unit: float = 1000.0) -> str:
        n = len(self.values)
        return (
            f"p50 {self.quantile(0.5) * unit:8.1f}  p99 {self.quantile(0.99) * unit:8.1f}  (n={n})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the run")
    parser.add_argument("--writers", type=int, default=4, help="county systems writing")
    parser.add_argument("--readers", type=int, default=2, help="clients reading figures")
    add_smoke_argument(parser)
    add_admin_url_argument(parser, "postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if args.smoke:
        require_postgres(args, "a primary and a streaming replica of its own")
        args.seconds, args.writers, args.readers = 2.0, 2, 1
    missing = missing_packages()
    if missing:
        raise SystemExit(f"Debian packages missing: {', '.join(missing)}")
    stop_on_sigterm()
    announce(args)
    # Durable (fsync, synchronous_commit) as in production, except in smoke mode: with
    # synchronous_commit off the WAL streams only when the WAL writer flushes it (200 ms).
    cluster = Cluster(api_nodes=2, workers=2, settings=UNLIMITED, scratch=args.smoke)
    try:
        cluster.start()
        print(f"cold cluster start (deploy/cluster.sh start): {cluster.started_in:.1f} s")
        with scratch_folder("replica-reads") as folder:
            run(args, cluster, folder)
    finally:
        cluster.destroy()


def run(args: argparse.Namespace, cluster: Cluster, folder: Path) -> None:
    env = cluster.env()
    hub = build_context(_settings(env, folder), people=records)
    try:
        keys = _members(hub)
    finally:
        hub.dispose()
    on_primary = {**env, **UNLIMITED, "HUB_READ_DATABASE_URL": "", "HUB_LOG_JSON": "false",
                  "HUB_DATA_DIR": str(folder / "extra")}  # fmt: skip
    with Server("exchange_hub.asgi:app", env=on_primary, log=folder / "extra.log") as extra:
        reading = {"replica": cluster.api_urls[0], "primary": extra.url}
        report(phase(args, cluster, keys, reading))


def _settings(env: dict[str, str], folder: Path) -> Settings:
    return Settings(
        database_url=env["HUB_DIRECT_DATABASE_URL"], keys_file=Path(env["HUB_KEYS_FILE"]),
        generate_dev_keys=False, data_dir=folder / "bench", log_json=False,
        crypto_profile=env["HUB_CRYPTO_PROFILE"],  # the ring cluster.sh made is of this profile
    )  # fmt: skip


def _members(hub: HubContext) -> dict[str, str]:
    """API keys of the counties and of the nation's admin; a console account for it."""
    keys = {}
    with transaction(hub.sessions) as session:
        for region in (*ASKERS, *ORIGINS):
            keys[region] = members.add_member(
                session, name=f"bench {region}", role="county", region=region,
                department=None, public_key=None, person_data_grant=False,
            ).api_key  # fmt: skip
        keys["000000"] = members.add_member(
            session, name="bench nation", role="admin", region="000000", department=None,
            public_key=None, person_data_grant=False,
        ).api_key  # fmt: skip
        auth.add_user(session, username="bench-nation", password=PASSWORD, role="admin",
                      region="000000", person_data_grant=False)  # fmt: skip
    return keys


@dataclass
class Reads:
    figures: Samples = field(default_factory=Samples)
    overview: Samples = field(default_factory=Samples)


@dataclass
class Phase:
    reads: dict[str, Reads]
    replay_lag: Samples = field(default_factory=Samples)
    catch_up: Samples = field(default_factory=Samples)
    writes: int = 0
    errors: list[str] = field(default_factory=list)


def phase(
    args: argparse.Namespace, cluster: Cluster, keys: dict[str, str], reading: dict[str, str]
) -> Phase:
    """Writers, readers and the lag watch at once for ``--seconds``; each reader takes the
    targets in turn, so both read the same data under the same load."""
    result, stop = Phase({target: Reads() for target in reading}), threading.Event()
    writer_url = cluster.api_urls[1]
    jobs: list[tuple[Callable[..., None], tuple[object, ...]]] = [
        (_write, (writer_url, keys, n, result, stop)) for n in range(args.writers)
    ]
    jobs += [(_read, (reading, keys["000000"], result, stop)) for _ in range(args.readers)]
    jobs.append((_watch_lag, (cluster, result, stop)))
    threads = [threading.Thread(target=target, args=job_args) for target, job_args in jobs]
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    if result.errors:
        raise SystemExit(f"errors during the run: {result.errors[:5]}")
    return result


_serial = itertools.count(1)


def _write(url: str, keys: dict[str, str], n: int, result: Phase, stop: threading.Event) -> None:
    """A county system: a query to an origin county, which answers it at once."""
    asker, origin = ASKERS[n % len(ASKERS)], ORIGINS[n % len(ORIGINS)]
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            body = f"{origin}19900101{next(_serial) % 1000:03d}"
            sent = client.post("/api/v1/messages", headers=_bearer(keys[asker]), json={
                "kind": "query", "urgency": "normal", "to_region": origin,
                "subject": {"id_number": body + expected_check_character(body)},
                "purpose": "verify household registration for public services",
            })  # fmt: skip
            if sent.status_code != 201:
                result.errors.append(f"POST /messages {sent.status_code} {sent.text[:200]}")
                return
            answered = client.post(
                f"/api/v1/messages/{sent.json()['id']}/feedback", headers=_bearer(keys[origin]),
                json={"result": "not_found"},
            )  # fmt: skip
            if answered.status_code != 200:
                result.errors.append(f"feedback {answered.status_code} {answered.text[:200]}")
                return
            result.writes += 1


def _read(reading: dict[str, str], admin_key: str, result: Phase, stop: threading.Event) -> None:
    params = {"region": "000000", "period": month_of(clock.now()).label}
    clients = {target: httpx.Client(base_url=url, timeout=60) for target, url in reading.items()}
    try:
        for client in clients.values():
            _sign_in(client)
            _read_once(client, admin_key, params, Reads())  # warm: connections, caches
        for target in itertools.cycle(clients):
            if stop.is_set() and all(result.reads[t].figures.values for t in clients):
                return  # at least one read of each, however short the run
            error = _read_once(clients[target], admin_key, params, result.reads[target])
            if error:
                result.errors.append(f"{target}: {error}")
                return
    finally:
        for client in clients.values():
            client.close()


def _read_once(
    client: httpx.Client, admin_key: str, params: dict[str, str], reads: Reads
) -> str | None:
    began = time.perf_counter()
    answer = client.get("/api/v1/metrics/exchange", headers=_bearer(admin_key),
                        params={**params, "level": "province"})  # fmt: skip
    reads.figures.add(time.perf_counter() - began)
    answers = [("figures", answer)]
    if len(reads.figures.values) % OVERVIEW_EVERY == 1:  # the page is ~10× the read
        began = time.perf_counter()
        answers.append(("overview", client.get("/console/overview", params=params)))
        reads.overview.add(time.perf_counter() - began)
    for what, got in answers:
        if got.status_code != 200:
            return f"{what} {got.status_code} {got.text[:200]}"
    return None


def _sign_in(client: httpx.Client) -> None:
    form = client.get("/console/sign-in").text
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post("/console/sign-in", data={
        "username": "bench-nation", "password": PASSWORD, "csrf_token": token,
    })  # fmt: skip
    if signed.status_code != 303:
        raise SystemExit(f"console sign-in failed: {signed.status_code} {signed.text[:200]}")


def _watch_lag(cluster: Cluster, result: Phase, stop: threading.Event) -> None:
    """Every 0.1 s: replay_lag as the primary sees it, and how long the replica takes to
    replay up to the primary's current LSN."""
    with (
        psycopg.connect(cluster.database_url(), autocommit=True) as primary,
        psycopg.connect(cluster.database_url("REPLICA_PORT"), autocommit=True) as replica,
    ):
        while not stop.is_set():
            row = primary.execute(
                "SELECT coalesce(extract(epoch FROM replay_lag), 0), pg_current_wal_lsn()"
                " FROM pg_stat_replication"
            ).fetchone()
            if row is None:
                result.errors.append("the replica is not streaming")
                return
            result.replay_lag.add(float(row[0]))
            began = time.perf_counter()
            while not replica.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[1],)
            ).fetchone()[0]:  # type: ignore[index]
                time.sleep(0.001)
            result.catch_up.add(time.perf_counter() - began)
            time.sleep(0.1)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def report(found: Phase) -> None:
    print(f"\nwrite load: {found.writes} cycles (query + answer) through API node 2")
    print("ms                 figures (GET /api/v1/metrics/exchange)   console overview")
    for target, reads in found.reads.items():
        print(f"read from {target:8} {reads.figures.text()}   {reads.overview.text()}")
    print(f"replica lag: replay_lag {found.replay_lag.text()}; catch-up {found.catch_up.text()}")
    replica, primary = found.reads["replica"], found.reads["primary"]
    ratio = replica.figures.quantile(0.5) / primary.figures.quantile(0.5)
    overview = replica.overview.quantile(0.5) / primary.overview.quantile(0.5)
    print(f"ratio replica/primary p50: figures {ratio:.2f}, overview {overview:.2f}")


if __name__ == "__main__":
    main()

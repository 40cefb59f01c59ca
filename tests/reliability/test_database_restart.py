"""PostgreSQL restarts under load: the hub answers 503, never 500 or a hang, and recovers.

The test starts a cluster of its own (``initdb`` in a temporary folder,
127.0.0.1 and a free port), runs the hub on it, and while three county
clients write it crash-restarts the server (``pg_ctl restart -m immediate``)
and then keeps it down for a few seconds. Every answer must be a 2xx or an
RFC 9457 problem document with status 503; no request may take longer than
the client's bounded timeout; the same hub process serves again once the
database is back; and everything the hub acknowledged is in the database.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability.harness import (
    GaveUp,
    HubServer,
    RetryingClient,
    add_member,
    is_problem,
    query_rows,
    running_hub,
)
from tests.reliability.pgcluster import Cluster, can_run_cluster
from tests.reliability.summary import Figures
from tests.reliability.workload import County, Ledger, People

CLIENT_TIMEOUT_SECONDS = 10.0
DOWN_SECONDS = 4.0
RECOVERY_SECONDS = 30.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    reason = can_run_cluster()
    if reason:
        pytest.skip(reason)
    own = Cluster()
    try:
        own.init()
        own.start()
        yield own
    finally:
        own.destroy()


@dataclass
class Answers:
    """Every answer any client saw, judged as it arrived."""

    statuses: Counter[int] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code >= 500 and not (
                response.status_code == 503 and is_problem(response)
            ):
                self.bad.append(
                    f"{response.request.url.path}: {response.status_code} {response.text[:200]}"
                )


def keep_writing(county: County, stop: threading.Event, kind: str) -> None:
    """Records one by one, or queries, until told to stop (bounded by the caller)."""
    partners = ["440305"]
    n = 0
    while not stop.is_set() and n < 2000:
        if kind == "records":
            record = next(iter(county.records_to_push(1, partners)))
            county.push_one(record, f"db-{county.region}-{kind}-{n}")
        else:
            county.send_query("440305", f"rel-db-{n}")
        n += 1


def test_database_restart_under_load(cluster: Cluster, tmp_path: Path, figures: Figures) -> None:
    with running_hub(cluster.admin_url, tmp_path / "hub") as server:
        answers, ledger = Answers(), Ledger()
        counties = _counties(server, answers, ledger)
        stop = threading.Event()
        threads = [
            threading.Thread(target=keep_writing, args=(counties[0], stop, "records")),
            threading.Thread(target=keep_writing, args=(counties[1], stop, "records")),
            threading.Thread(target=keep_writing, args=(counties[2], stop, "queries")),
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(3.0)
            cluster.restart_immediate()
            time.sleep(3.0)
            cluster.stop_immediate()
            time.sleep(DOWN_SECONDS)
            cluster.start()
            recovered_after = _wait_until_writable(server, counties[0])
            time.sleep(2.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=CLIENT_TIMEOUT_SECONDS * 8)
            for county in counties:
                county.client.close()
        missing = _missing(server, ledger)
        figures.faults = 2
        figures.records = len(ledger.records)
        figures.messages = len(ledger.sent)
        figures.lost, figures.duplicated, figures.unexpected = missing
        figures.notes.append(
            f"answers {dict(sorted(answers.statuses.items()))}; writable again "
            f"{recovered_after:.1f}s after the database came back"
        )
        longest = max(c.client.stats.longest_seconds for c in counties)
        transport = sum(c.client.stats.transport_errors for c in counties)

        assert answers.bad == [], server.tracebacks()
        assert answers.statuses[503] > 0, "the database was down, yet no 503 was seen"
        assert transport == 0 and longest < CLIENT_TIMEOUT_SECONDS
        assert server.starts == 1 and server.process is not None
        assert server.process.poll() is None, "the hub process had to be restarted"
        assert ledger.failures == []
        assert missing == (0, 0, 0)
        assert httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200


def _counties(server: HubServer, answers: Answers, ledger: Ledger) -> list[County]:
    people = People(seed=21)
    counties = []
    for region in ("110105", "310115", "510107"):
        member = add_member(server, role="county", region=region)
        client = RetryingClient(
            server.url,
            member.api_key,
            patience_seconds=60.0,
            timeout_seconds=CLIENT_TIMEOUT_SECONDS,
            observe=answers.observe,
        )
        counties.append(County(region, member.api_key, client, ledger, people))
    add_member(server, role="county", region="440305")
    return counties


def _wait_until_writable(server: HubServer, county: County) -> float:
    """Seconds until the same hub process answers a write again (bounded)."""
    started = time.monotonic()
    deadline = started + RECOVERY_SECONDS
    probe = httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_SECONDS)
    try:
        while time.monotonic() < deadline:
            if probe.get("/readyz").status_code == 200:
                break
            time.sleep(0.2)
        record = next(iter(county.records_to_push(1, ["440305"])))
        before = len(county.ledger.records)
        county.push_one(record, f"db-probe-{time.monotonic_ns()}")
        if len(county.ledger.records) <= before:
            raise GaveUp("no write accepted after the database came back")
    finally:
        probe.close()
    return time.monotonic() - started


def _missing(server: HubServer, ledger: Ledger) -> tuple[int, int, int]:
    """(lost, duplicated, unexpected) of acknowledged records and queries."""
    record_ids = Counter(
        r[0] for r in query_rows(server.database_url, "SELECT id::text FROM records")
    )
    refs = Counter(
        r[0]
        for r in query_rows(
            server.database_url, "SELECT case_ref FROM messages WHERE case_ref IS NOT NULL"
        )
    )
    lost = sum(1 for rid in ledger.record_ids.values() if rid not in record_ids)
    lost += sum(1 for ref in ledger.sent if ref not in refs)
    duplicated = sum(n - 1 for n in refs.values() if n > 1)
    context = server.context()
    try:
        indexes = Counter(
            r[0] for r in query_rows(server.database_url, "SELECT id_index FROM records")
        )
        ours = {context.keyring.blind_index(n) for n in ledger.records}
    finally:
        context.dispose()
    duplicated += sum(n - 1 for n in indexes.values() if n > 1)
    unexpected = sum(1 for i in indexes if i not in ours) + sum(
        1 for r in refs if r not in ledger.sent
    )
    return lost, duplicated, unexpected

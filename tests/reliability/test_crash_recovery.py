"""The hub is killed with SIGKILL under load and restarted: nothing acknowledged is lost.

Four county systems push 10,000 records (one by one and in NDJSON batches)
and run 3,000 query/feedback cycles (one county asks, the origin county pulls
its inbox and answers) while the hub process is killed five times. Clients
retry every write with its idempotency key. Afterwards the clients' ledgers
are reconciled against the database: 0 lost, 0 duplicated, 0 unexpected.
Meanwhile each county's sync job follows ``/changes`` from its last cursor
across the kills; what it saw must equal the feed read afresh afterwards.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.harness import (
    BIN,
    HubServer,
    RetryingClient,
    add_member,
    query_rows,
    running_hub,
)
from tests.reliability.summary import Figures
from tests.reliability.workload import CASE_PREFIX, County, Ledger, People

COUNTIES = ("110105", "440305", "310115", "510107")
RECORDS = int(os.environ.get("HUB_RELIABILITY_RECORDS", "10000"))
CYCLES = int(os.environ.get("HUB_RELIABILITY_CYCLES", "3000"))
KILLS = 5
BATCH_SIZE = 125
WORK_SECONDS = 600.0


@pytest.fixture
def server(pg_admin_url: str, tmp_path: Path) -> HubServer:
    with running_hub(pg_admin_url, tmp_path / "hub") as hub:
        yield hub  # type: ignore[misc]


def make_counties(server: HubServer, ledger: Ledger) -> list[County]:
    people = People(seed=9)
    counties = []
    for region in COUNTIES:
        member = add_member(server, role="county", region=region)
        client = RetryingClient(server.url, member.api_key, patience_seconds=120.0)
        counties.append(County(region, member.api_key, client, ledger, people))
    return counties


def run_load(counties: list[County]) -> list[threading.Thread]:
    """Per county: a record pusher, a query sender, an inbox answerer; they end by themselves."""
    threads = []
    for county in counties:
        partners = [c.region for c in counties if c is not county]
        jobs = [
            (county.push_records, (RECORDS // len(counties), partners, BATCH_SIZE)),
            (county.send_queries, (CYCLES // len(counties), partners)),
            (county.answer_inbox, (counties, WORK_SECONDS)),
        ]
        for target, args in jobs:
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            threads.append(thread)
    return threads


def follow_feeds(counties: list[County], load_over: threading.Event) -> list[threading.Thread]:
    """Per county: a sync job following ``/changes`` from its last cursor, across the kills."""
    threads = [
        threading.Thread(target=c.follow_changes, args=(load_over, WORK_SECONDS), daemon=True)
        for c in counties
    ]
    for thread in threads:
        thread.start()
    return threads


def reconcile_feeds(counties: list[County]) -> dict[str, int]:
    """What each sync job saw while following equals the feed read afresh afterwards."""
    lost = duplicated = unexpected = rows = 0
    for county in counties:
        fresh = county.all_changes()
        seen = Counter(county.followed)
        rows += len(fresh)
        lost += sum(1 for seq in fresh if seq not in seen)
        duplicated += sum(n - 1 for n in seen.values() if n > 1)
        unexpected += len(set(seen) - set(fresh))
    return {"lost": lost, "duplicated": duplicated, "unexpected": unexpected, "rows": rows}


def kill_under_load(server: HubServer, ledger: Ledger, threads: list[threading.Thread]) -> None:
    """SIGKILL at evenly spaced points of progress, restarting at once each time."""
    total = RECORDS + 2 * CYCLES
    marks = [total * k // (KILLS + 1) for k in range(1, KILLS + 1)]
    deadline = time.monotonic() + WORK_SECONDS
    while marks and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        if ledger.operations() >= marks[0]:
            marks.pop(0)
            server.restart_after_kill()
        time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()))


def reconcile_records(server: HubServer, ledger: Ledger) -> dict[str, int]:
    context = server.context()
    try:
        index_of = {context.keyring.blind_index(n): n for n in ledger.records}
    finally:
        context.dispose()
    rows = query_rows(
        server.database_url,
        "SELECT id_index, registering_region, kind, version FROM records",
    )
    found = Counter(r[0] for r in rows)
    wrong_place = [
        r for r in rows if r[0] in index_of and ledger.records[index_of[r[0]]] != (r[1], r[2])
    ]
    return {
        "lost": sum(1 for index in index_of if index not in found),
        "duplicated": sum(n - 1 for n in found.values() if n > 1),
        "unexpected": sum(1 for index in found if index not in index_of)
        + len(wrong_place)
        + sum(1 for r in rows if r[3] != 1),
        "rows": len(rows),
    }


def reconcile_queries(server: HubServer, ledger: Ledger) -> dict[str, int]:
    rows = query_rows(
        server.database_url,
        "SELECT case_ref, id::text, state, feedback_result FROM messages WHERE case_ref LIKE %(p)s",
        {"p": f"{CASE_PREFIX}-%"},
    )
    by_ref = Counter(r[0] for r in rows)
    stored = {r[0]: r for r in rows}
    answers = Counter(
        r[0]
        for r in query_rows(
            server.database_url,
            "SELECT message_id::text FROM message_events WHERE to_state = 'answered'",
        )
    )
    lost = sum(1 for ref, mid in ledger.sent.items() if ref not in stored or stored[ref][1] != mid)
    lost += sum(
        1
        for ref, mid in ledger.sent.items()
        if ref in stored
        and (stored[ref][2] != "answered" or stored[ref][3] != ledger.answered.get(mid))
    )
    return {
        "lost": lost,
        "duplicated": sum(n - 1 for n in by_ref.values() if n > 1)
        + sum(n - 1 for n in answers.values() if n > 1),
        "unexpected": sum(1 for ref in by_ref if ref not in ledger.sent),
        "rows": len(rows),
    }


def reconcile_inflow_messages(server: HubServer) -> dict[str, int]:
    """Each inflow record notifies its origin once and opens one query (no outflow there)."""
    inflows = {
        r[0]
        for r in query_rows(
            server.database_url, "SELECT id::text FROM records WHERE kind = 'inflow'"
        )
    }
    sent = Counter(
        (r[0], r[1])
        for r in query_rows(
            server.database_url,
            "SELECT record_id::text, kind FROM messages WHERE record_id IS NOT NULL",
        )
    )
    expected = {(rid, kind) for rid in inflows for kind in ("notification", "query")}
    return {
        "lost": sum(1 for e in expected if e not in sent),
        "duplicated": sum(n - 1 for n in sent.values() if n > 1),
        "unexpected": sum(1 for e in sent if e not in expected),
        "rows": sum(sent.values()),
    }


def audit_chain_verifies(server: HubServer) -> subprocess.CompletedProcess[str]:
    """``exchange-hub audit verify``: the hash chain survived the kills."""
    return subprocess.run(
        [str(BIN / "exchange-hub"), "audit", "verify"],
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sigkill_under_load_loses_nothing(server: HubServer, figures: Figures) -> None:
    ledger = Ledger()
    counties = make_counties(server, ledger)
    load_over = threading.Event()
    try:
        followers = follow_feeds(counties, load_over)
        threads = run_load(counties)
        kill_under_load(server, ledger, threads)
        load_over.set()
        for thread in followers:
            thread.join(timeout=60)
        feeds = reconcile_feeds(counties)
    finally:
        load_over.set()
        for county in counties:
            county.client.close()
    records = reconcile_records(server, ledger)
    queries = reconcile_queries(server, ledger)
    automatic = reconcile_inflow_messages(server)
    parts = (records, queries, automatic, feeds)
    figures.faults = server.kills
    figures.records = len(ledger.records)
    figures.messages = queries["rows"] + automatic["rows"]
    figures.lost = sum(p["lost"] for p in parts)
    figures.duplicated = sum(p["duplicated"] for p in parts)
    figures.unexpected = sum(p["unexpected"] for p in parts)
    stats = counties[0].client.stats
    for county in counties[1:]:
        stats.merge(county.client.stats)
    figures.notes.append(
        f"{stats.requests} requests, {stats.retries} retries, {stats.transport_errors} "
        f"transport errors, statuses {dict(sorted(stats.statuses.items()))}; "
        f"refusals {dict(stats.refusals.most_common(3))}"
    )

    assert server.kills == KILLS
    assert ledger.failures == []
    assert len(ledger.records) == RECORDS
    assert len(ledger.sent) == CYCLES and len(ledger.answered) == CYCLES
    assert records == {"lost": 0, "duplicated": 0, "unexpected": 0, "rows": RECORDS}
    assert queries == {"lost": 0, "duplicated": 0, "unexpected": 0, "rows": CYCLES}
    assert automatic["lost"] == automatic["duplicated"] == automatic["unexpected"] == 0
    assert feeds["lost"] == feeds["duplicated"] == feeds["unexpected"] == 0, feeds
    assert stats.statuses.get(500, 0) == 0
    verify = audit_chain_verifies(server)
    assert verify.returncode == 0, verify.stdout + verify.stderr

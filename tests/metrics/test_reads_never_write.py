"""Figure reads write nothing (issue 16): they run on a read-only database connection.

The hub below reads through a connection that cannot write: on PostgreSQL a
``HUB_READ_DATABASE_URL`` whose transactions are read-only (as on a standby),
on SQLite the hub's own reading engine (``PRAGMA query_only``). Every figures
endpoint, the bulletin in all three formats and the scorecard answer from it,
exactly, while the aggregates lag behind; only the refresh a stale read
schedules after its answer writes, on the primary, and it gives way to a
refresh already running.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.db import driver_url
from exchange_hub.metrics import aggregates, freshness, tasks
from exchange_hub.models import ExchangeCount, Message
from tests.fixtures.hub import MemberKey, make_context, make_member
from tests.metrics.factories import at

OCT = at("2026-10-05 09:00")
NOW = at("2026-11-10 10:00")
READS = [
    ("/api/v1/metrics/exchange", {"region": "440000", "period": "2026-10", "level": "county"}),
    ("/api/v1/metrics/latency", {"region": "440000", "period": "2026-10"}),
    ("/api/v1/bulletin", {"region": "440000", "period": "2026-10"}),
    ("/api/v1/bulletin", {"region": "440000", "period": "2026-10", "format": "csv"}),
    ("/api/v1/bulletin", {"region": "440000", "period": "2026-10", "format": "xlsx"}),
    ("/api/v1/scorecard", {"region": "440000", "period": "2026-10"}),
]


def read_only_url(database_url: str) -> str:
    """PostgreSQL: the same database, every transaction read-only (a standby's behaviour).
    SQLite: empty, the hub's own reading engine is the read-only one."""
    if not database_url.startswith("postgresql"):
        return ""
    joiner = "&" if "?" in database_url else "?"
    return f"{database_url}{joiner}options=-c%20default_transaction_read_only%3Don"


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: hub_clock.Clock) -> Iterator[HubContext]:
    clock.pin(NOW, tick=False)
    context = make_context(
        database_url, tmp_path / "data",
        read_database_url=read_only_url(database_url),
        figures_refresh_after_seconds=600,
    )  # fmt: skip
    yield context
    context.dispose()


@pytest.fixture
def october(insert) -> None:  # type: ignore[no-untyped-def]
    """Shenzhen answers 9 of 10 queries from Beijing in October; stamped at NOW."""
    insert(*[
        dict(to_region="440305", from_region="110105", submitted_at=OCT,
             deadline=at("2026-10-20 23:59:59"), delivered_at=OCT + timedelta(seconds=30),
             answered_at=OCT + timedelta(days=1) if i < 9 else None, updated_at=NOW)
        for i in range(10)
    ])  # fmt: skip


def shenzhen_answered(client: TestClient, admin: MemberKey) -> int:
    params = {"region": "440300", "period": "2026-10", "level": "county"}
    response = client.get("/api/v1/metrics/exchange", params=params, headers=admin.headers)
    assert response.status_code == 200, response.text
    (shenzhen,) = [i for i in response.json()["items"] if i["region"] == "440305"]
    return shenzhen["queries"]["answered"]  # type: ignore[no-any-return]


def test_the_read_connection_cannot_write(hub: HubContext) -> None:
    """The premise of the tests below: a write through the read sessions fails."""
    with hub.read_sessions() as session, pytest.raises(DBAPIError):
        session.execute(text("CREATE TABLE must_not_exist (x INTEGER)"))


@pytest.mark.parametrize(("path", "params"), READS)
def test_every_figure_read_answers_from_the_read_only_connection(
    client: TestClient, october: None, path: str, params: dict[str, str]
) -> None:
    admin = make_member(client.app.state.hub, role="admin", region="440000")  # type: ignore[attr-defined]
    response = client.get(path, params=params, headers=admin.headers)
    assert response.status_code == 200, response.text


def test_figures_are_exact_while_the_aggregates_lag(
    client: TestClient, hub: HubContext, october: None, clock: hub_clock.Clock
) -> None:
    admin = make_member(hub, role="admin", region="440000")
    assert shenzhen_answered(client, admin) == 9  # never refreshed: read raw
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeCount)) > 0, (
            "the aggregates were never built, so the read scheduled a refresh"
        )
    clock.advance(timedelta(seconds=1))
    with hub.sessions.begin() as session:  # the tenth is answered; stamped now
        tenth = session.scalars(select(Message).where(Message.answered_at.is_(None))).one()
        tenth.answered_at, tenth.state = OCT + timedelta(days=2), "answered"
        tenth.updated_at = hub_clock.now()
    assert shenzhen_answered(client, admin) == 10  # the dirty county is read raw
    with hub.sessions() as session:
        assert aggregates.unapplied(session).partitions, "a fresh change is left to the job"
    clock.advance(timedelta(seconds=601))
    assert shenzhen_answered(client, admin) == 10
    with hub.sessions() as session:
        assert not aggregates.unapplied(session).partitions, "a stale read refreshed after"


def test_a_stale_read_gives_way_to_a_running_refresh(
    hub: HubContext, database_url: str, october: None
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's advisory lock; SQLite's refresh waits for its write lock")
    holder = create_engine(driver_url(database_url))
    held, release = threading.Event(), threading.Event()

    def hold_the_refresh_lock() -> None:
        with holder.begin() as connection:
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": aggregates._REFRESH_LOCK})
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold_the_refresh_lock)
    thread.start()
    try:
        assert held.wait(30)
        assert freshness.refresh_if_stale(hub) is None  # gave way at once, nothing built
        with hub.sessions() as session:
            assert not aggregates.unapplied(session).built
    finally:
        release.set()
        thread.join()
        holder.dispose()
    assert freshness.refresh_if_stale(hub) is not None
    assert tasks.refresh(hub.sessions).changed_messages == 0

"""Figures read from a real streaming replica (issue 18): equal to the primary's once it
has caught up, one snapshot per answer, and ``as_of`` no later than the replica's data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from exchange_hub import clock, migrations_util
from exchange_hub.context import HubContext
from exchange_hub.periods import month_of
from tests.cluster.servers import Pair, primary_and_replica
from tests.exchange.helpers import act, send_query
from tests.fixtures.hub import MemberKey, client_for, make_context, make_member


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with primary_and_replica() as servers:
        migrations_util.upgrade(servers.primary)
        yield servers


@pytest.fixture
def hubs(pair: Pair, tmp_path: Path) -> Iterator[tuple[HubContext, HubContext]]:
    """The same hub twice: reading figures from the replica, and from the primary."""
    on_replica = make_context(pair.primary, tmp_path / "data", read_database_url=pair.replica)
    on_primary = make_context(pair.primary, tmp_path / "data")
    yield on_replica, on_primary
    on_replica.dispose()
    on_primary.dispose()


def _figures(hub: HubContext, admin: MemberKey) -> dict:
    with client_for(hub) as client:
        answer = client.get(
            "/api/v1/metrics/exchange",
            params={"region": "000000", "period": month_of(clock.now()).label},
            headers=admin.headers,
        )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _without_time(figures: dict) -> dict:
    return {key: value for key, value in figures.items() if key != "as_of"}


def test_replica_figures_equal_the_primarys_once_caught_up(
    pair: Pair, hubs: tuple[HubContext, HubContext]
) -> None:
    on_replica, on_primary = hubs
    asker = make_member(on_primary, role="county", region="440305")
    origin = make_member(on_primary, role="county", region="110105")
    admin = make_member(on_primary, role="admin", region="000000")
    with client_for(on_primary) as client:
        sent = [send_query(client, asker, origin) for _ in range(5)]
        for message_id in sent[:3]:
            assert (
                act(client, origin, message_id, "feedback", result="not_found").status_code == 200
            )
    from_replica = _caught_up(pair, on_replica, on_primary, admin)
    assert from_replica["total"]["queries"]["routed"] >= 5


def test_a_lagging_replica_says_how_old_its_data_is(
    pair: Pair, hubs: tuple[HubContext, HubContext]
) -> None:
    on_replica, on_primary = hubs
    asker = make_member(on_primary, role="county", region="440305")
    origin = make_member(on_primary, role="county", region="110106")
    admin = make_member(on_primary, role="admin", region="000000")
    with client_for(on_primary) as client:
        send_query(client, asker, origin)
    before = _caught_up(pair, on_replica, on_primary, admin)
    with psycopg.connect(pair.url(pair.replica_port, "postgres"), autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            with client_for(on_primary) as client:
                for _ in range(3):
                    send_query(client, asker, origin)
            _wait_until_received_not_replayed(replica)
            asked_at = clock.now()
            lagging = _figures(on_replica, admin)
            current = _figures(on_primary, admin)
            reports = _reports_as_of(on_replica, admin)
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")
    # The replica's answer is its (older) data, whole, and dated when that data was.
    assert _without_time(lagging) == _without_time(before)
    assert current["total"]["queries"]["routed"] == before["total"]["queries"]["routed"] + 3
    assert datetime.fromisoformat(lagging["as_of"]) < asked_at - timedelta(milliseconds=1)
    # The department reports' figures from the replica are dated by its data too.
    assert all(moment < asked_at - timedelta(milliseconds=1) for moment in reports), reports
    assert _without_time(_caught_up(pair, on_replica, on_primary, admin)) == _without_time(current)


def _reports_as_of(hub: HubContext, admin: MemberKey) -> list[datetime]:
    moments = []
    with client_for(hub) as client:
        for path in ("/api/v1/reports/rates", "/api/v1/reports/missing"):
            answer = client.get(
                path, params={"region": "000000", "period": month_of(clock.now()).label},
                headers=admin.headers,
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            moments.append(datetime.fromisoformat(answer.json()["as_of"]))
    return moments


def _caught_up(
    pair: Pair, on_replica: HubContext, on_primary: HubContext, admin: MemberKey
) -> dict:
    """The replica's figures once they equal the primary's: the replica replays what the
    primary wrote, then (a background write of the primary may arrive between) answers
    the same. Fails when they never meet."""
    deadline = time.monotonic() + 30
    while True:
        pair.wait_for_replay()
        from_replica, from_primary = _figures(on_replica, admin), _figures(on_primary, admin)
        if _without_time(from_replica) == _without_time(from_primary):
            return from_replica
        assert time.monotonic() < deadline, (from_replica, from_primary)
        time.sleep(0.2)


def _wait_until_received_not_replayed(replica: psycopg.Connection, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = replica.execute(
            "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
        ).fetchone()
        if row and row[0]:
            return
        time.sleep(0.05)
    raise TimeoutError("the replica received nothing while paused")

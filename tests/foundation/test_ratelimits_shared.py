"""Rate limits shared by every node (issue 18): Redis, or PostgreSQL's table without it.

Two nodes are two app instances, each with its own engine and limiters, on one
database (and one Redis): what one counts, the other sees. The embedded hub
(SQLite, no Redis) keeps its per-process buckets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from exchange_hub import clock as hub_clock
from exchange_hub import ratelimits, ratelimits_repository
from exchange_hub.context import HubContext
from exchange_hub.jobs import JOBS
from exchange_hub.models import RateLimitWindow
from tests.fixtures.hub import client_for, make_context, make_member
from tests.fixtures.redis_server import NO_REDIS, REDIS_SERVER, RedisServer, free_port, needs_redis

ME = "/api/v1/members/me"
PER_MINUTE = 10
FAILURES = 4
MOMENT = datetime(2026, 11, 24, 2, 0, 1, tzinfo=UTC)
Nodes = tuple[TestClient, TestClient, HubContext]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def skip_on_sqlite(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip(
            "the shared table is PostgreSQL's; on SQLite (the embedded hub, one process) the "
            "limits stay in memory — set HUB_TEST_DATABASE_URL to run this"
        )


@pytest.fixture(params=["redis", "postgresql"])
def store(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings of a shared store: Redis (started here), or PostgreSQL's table."""
    if request.param == "redis":
        if not REDIS_SERVER.exists():
            pytest.skip(NO_REDIS)
        return {"redis_url": request.getfixturevalue("redis_server").url}
    request.getfixturevalue("skip_on_sqlite")
    return {}


@contextmanager
def two_nodes(database_url: str, data_dir: Path, **settings: Any) -> Iterator[Nodes]:
    """Two app instances on one database, each with its own engine and limiters."""
    overrides = {"rate_limit_per_minute": PER_MINUTE, "auth_failure_limit": FAILURES, **settings}
    with ExitStack() as stack:
        hubs = [make_context(database_url, data_dir, **overrides) for _ in range(2)]
        for hub in hubs:
            stack.callback(hub.dispose)
        a, b = (stack.enter_context(client_for(hub)) for hub in hubs)
        yield a, b, hubs[0]


@pytest.fixture
def table_nodes(
    database_url: str, tmp_path: Path, skip_on_sqlite: None, clock: hub_clock.Clock
) -> Iterator[Nodes]:
    """Two nodes sharing PostgreSQL's table, the hub's clock frozen at ``MOMENT``."""
    clock.pin(MOMENT, tick=False)
    with two_nodes(database_url, tmp_path / "data") as nodes:
        yield nodes


def bad_key(n: int) -> dict[str, str]:
    return {"Authorization": f"Bearer hub_0000000000000000_wrong{n:04d}"}


# -- one limit across two nodes -----------------------------------------------------------
def test_n_requests_a_minute_hold_across_two_nodes_together(
    database_url: str, tmp_path: Path, store: dict[str, Any], clock: hub_clock.Clock
) -> None:
    clock.pin(MOMENT, tick=False)
    with two_nodes(database_url, tmp_path / "data", **store) as (a, b, hub):
        assert isinstance(a.app.state.rate_limiter, ratelimits.SharedRateLimiter)  # type: ignore[attr-defined]
        member, other = make_member(hub), make_member(hub, region="440305")
        statuses = [
            (a if n % 2 else b).get(ME, headers=member.headers).status_code
            for n in range(PER_MINUTE + 1)
        ]
        assert statuses == [200] * PER_MINUTE + [429], "N + 1 in a minute: exactly one 429"
        refused = a.get(ME, headers=member.headers)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/rate-limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert b.get(ME, headers=other.headers).status_code == 200, "another member is not held"


def test_the_table_window_follows_the_hubs_clock_and_refills_after_a_minute(
    table_nodes: Nodes, clock: hub_clock.Clock
) -> None:
    a, b, hub = table_nodes
    member = make_member(hub)
    assert a.get(ME, headers=member.headers).status_code == 200  # opens the window
    clock.advance(timedelta(seconds=20))
    for n in range(PER_MINUTE - 1):
        assert (b if n % 2 else a).get(ME, headers=member.headers).status_code == 200
    refused = b.get(ME, headers=member.headers)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "40", "until the window opened at 0 s closes"
    clock.advance(timedelta(seconds=39))
    assert a.get(ME, headers=member.headers).status_code == 429
    clock.advance(timedelta(seconds=1))
    statuses = [b.get(ME, headers=member.headers).status_code for _ in range(PER_MINUTE + 1)]
    assert statuses == [200] * PER_MINUTE + [429], "a new minute, a new window"


def test_failed_authentications_are_limited_per_address_across_nodes(
    database_url: str, tmp_path: Path, store: dict[str, Any], clock: hub_clock.Clock
) -> None:
    clock.pin(MOMENT, tick=False)
    with two_nodes(database_url, tmp_path / "data", **store) as (a, b, hub):
        statuses = [(a if n % 2 else b).get(ME, headers=bad_key(n)).status_code
                    for n in range(FAILURES + 1)]  # fmt: skip
        assert statuses == [401] * FAILURES + [429]
        refused = a.get(ME, headers=bad_key(99))
        assert refused.status_code == 429 and refused.json()["field"] == "Authorization"
        assert 1 <= int(refused.headers["Retry-After"]) <= 300
        member = make_member(hub)
        assert b.get(ME, headers=member.headers).status_code == 200, "valid keys still served"
        other = TestClient(b.app, client=("203.0.113.9", 40000))
        assert other.get(ME, headers=bad_key(1)).status_code == 401, "another address is not held"


def test_the_failed_authentication_window_lifts_after_its_interval(
    table_nodes: Nodes, clock: hub_clock.Clock
) -> None:
    a, b, _ = table_nodes
    for n in range(FAILURES):
        a.get(ME, headers=bad_key(n))
    assert b.get(ME, headers=bad_key(9)).status_code == 429
    clock.advance(timedelta(seconds=300))
    assert b.get(ME, headers=bad_key(10)).status_code == 401


# -- the table's upkeep -------------------------------------------------------------------
def windows(hub: HubContext) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(RateLimitWindow)) or 0


def test_closed_windows_are_pruned_by_the_job(table_nodes: Nodes, clock: hub_clock.Clock) -> None:
    a, _, hub = table_nodes
    members = [make_member(hub, region=region) for region in ("110105", "440305")]
    for member in members:
        a.get(ME, headers=member.headers)
    a.get(ME, headers=bad_key(1))
    assert windows(hub) == 3
    clock.advance(timedelta(seconds=61))
    assert JOBS["ratelimits.prune"](hub) == {"pruned": 2}, "the address's 300 s still run"
    clock.advance(timedelta(seconds=300))
    assert JOBS["ratelimits.prune"](hub) == {"pruned": 1}
    assert windows(hub) == 0


def test_a_clock_set_back_does_not_hold_a_key_for_the_jump(
    table_nodes: Nodes, clock: hub_clock.Clock
) -> None:
    a, _, hub = table_nodes
    member = make_member(hub)
    for _ in range(PER_MINUTE):
        a.get(ME, headers=member.headers)
    assert a.get(ME, headers=member.headers).status_code == 429
    clock.pin(MOMENT - timedelta(days=1), tick=False)
    assert a.get(ME, headers=member.headers).status_code == 200


# -- the embedded hub ---------------------------------------------------------------------
def test_the_embedded_hub_keeps_its_buckets_in_memory(
    database_url: str, tmp_path: Path, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip("on PostgreSQL the limits are shared (the tests above)")
    with two_nodes(database_url, tmp_path / "data") as (a, b, hub):
        limiter = a.app.state.rate_limiter  # type: ignore[attr-defined]
        assert type(limiter) is ratelimits.RateLimiter and not limiter.blocking
        assert type(a.app.state.failed_auth_limiter) is ratelimits.LocalFailedAuthLimiter  # type: ignore[attr-defined]
        member = make_member(hub)
        assert {a.get(ME, headers=member.headers).status_code for _ in range(PER_MINUTE)} == {200}
        assert b.get(ME, headers=member.headers).status_code == 200, "one process, its own buckets"


# -- a shared store that fails -------------------------------------------------------------
def metric(client: TestClient, name: str) -> float:
    body = client.get("/metrics", headers={"Authorization": "Bearer scrape"}).text
    lines = [line for line in body.splitlines() if line.startswith(name)]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def test_an_unreachable_redis_falls_back_to_this_process_never_a_500(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with two_nodes(database_url, tmp_path / "data", redis_url=nobody, metrics_token="scrape") as (
        a, _, hub,
    ):  # fmt: skip
        # The hub's loggers do not propagate to the root, where caplog listens.
        logger = logging.getLogger("exchange_hub.ratelimits")
        logger.addHandler(caplog.handler)
        member = make_member(hub)
        statuses = [a.get(ME, headers=member.headers).status_code for _ in range(PER_MINUTE + 1)]
        assert statuses == [200] * PER_MINUTE + [429], "this process's bucket holds the limit"
        assert {a.get(ME, headers=bad_key(n)).status_code for n in range(3)} == {401}
        fallbacks = 'hub_rate_limit_fallbacks_total{store="redis"}'
        assert metric(a, fallbacks) == PER_MINUTE + 1 + 3
        logger.removeHandler(caplog.handler)
    warnings = [r for r in caplog.records if "shared store (redis) failed" in r.getMessage()]
    assert len(warnings) == 1, "one warning per outage, not one per request"


@needs_redis
def test_redis_going_away_and_coming_back(redis_server: RedisServer) -> None:
    now = [0.0]
    fallbacks: list[str] = []
    windows_ = ratelimits.RedisWindows(redis_server.url)
    shared = ratelimits.SharedLimits(windows_, fallbacks.append, now=lambda: now[0])
    local_answers: list[str] = []

    def local(key: str) -> float | None:
        local_answers.append(key)
        return None

    try:
        assert shared.take("member", "m1", 2, 60, local) is None
        redis_server.stop()
        assert shared.take("member", "m1", 2, 60, local) is None
        assert shared.take("member", "m1", 2, 60, local) is None
        assert fallbacks == ["redis", "redis"] and local_answers == ["m1", "m1"]
        redis_server.start()  # empty again: --save '' keeps nothing
        assert shared.take("member", "m1", 2, 60, local) is None, "still paused"
        now[0] += ratelimits.PAUSE_SECONDS
        assert shared.take("member", "m1", 2, 60, local) is None
        assert shared.take("member", "m1", 2, 60, local) is None
        wait = shared.take("member", "m1", 2, 60, local)
        assert wait is not None and 0 < wait <= 60, "Redis counts again"
        assert len(local_answers) == 3
    finally:
        windows_.close()


def test_a_failing_table_falls_back_to_this_process_too(
    database_url: str, tmp_path: Path, skip_on_sqlite: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_: Any, **__: Any) -> None:
        raise OperationalError("INSERT", {}, ConnectionError("the table went away"))

    with two_nodes(database_url, tmp_path / "data", metrics_token="scrape") as (a, _, hub):
        member = make_member(hub)
        monkeypatch.setattr(ratelimits_repository, "hit", down)
        assert {a.get(ME, headers=member.headers).status_code for _ in range(3)} == {200}
        assert metric(a, 'hub_rate_limit_fallbacks_total{store="postgresql"}') == 3

"""Fixtures shared by every test: a migrated database per test, a hub, a client, members."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from tests.fixtures.database import PostgresTemplates, SqliteTemplates, postgres_admin_url
from tests.fixtures.hub import MemberKey, client_for, make_context, make_member


def pytest_report_header(config: pytest.Config) -> str:
    url = postgres_admin_url()
    if url:
        return f"database: PostgreSQL ({url}) — HUB_TEST_DATABASE_URL is set"
    return "database: SQLite (set HUB_TEST_DATABASE_URL=postgresql://… to run on PostgreSQL)"


@pytest.fixture(autouse=True)
def _real_time_after_each_test() -> Iterator[None]:
    """A test that pins the hub's clock never leaves it pinned for the next."""
    yield
    hub_clock.CLOCK.reset()


@pytest.fixture
def clock() -> hub_clock.Clock:
    """The hub's clock, for tests that set the time: ``clock.pin(moment)``."""
    return hub_clock.CLOCK


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    url = postgres_admin_url()
    if url:
        pg = PostgresTemplates(url)
        yield pg
        pg.close()
    else:
        yield SqliteTemplates(tmp_path_factory.mktemp("template"))


@pytest.fixture
def database_url(templates: SqliteTemplates | PostgresTemplates, tmp_path: Path) -> Iterator[str]:
    yield from templates.clone(tmp_path)


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[HubContext]:
    context = make_context(database_url, tmp_path / "data")
    yield context
    context.dispose()


@pytest.fixture
def client(hub: HubContext) -> Iterator[TestClient]:
    with client_for(hub) as test_client:
        yield test_client


@pytest.fixture
def county_a(hub: HubContext) -> MemberKey:
    """Beijing Chaoyang (110105)."""
    return make_member(hub, role="county", region="110105")


@pytest.fixture
def county_b(hub: HubContext) -> MemberKey:
    """Shenzhen Nanshan (440305)."""
    return make_member(hub, role="county", region="440305")


@pytest.fixture
def admin_gd(hub: HubContext) -> MemberKey:
    """Admin of Guangdong province (44)."""
    return make_member(hub, role="admin", region="440000")


@pytest.fixture
def admin_nation(hub: HubContext) -> MemberKey:
    return make_member(hub, role="admin", region="000000")

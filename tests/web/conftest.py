"""Console fixtures: accounts of each scope and clients signed in as them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from tests.fixtures.hub import client_for
from tests.web.helpers import make_user

# The day the console tests that need a finished month look at the console:
# 28 December 2026, 10:00 in Shanghai. Their "last month" is November; a normal
# query sent in mid-November (30 days) was due on 16 December, so it is overdue.
CONSOLE_DAY = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)


@pytest.fixture
def console_day(clock: Clock) -> datetime:
    """Pin the hub's clock to ``CONSOLE_DAY`` (ticking) for the whole test."""
    clock.pin(CONSOLE_DAY)
    return CONSOLE_DAY


@pytest.fixture
def gd_admin(hub: HubContext) -> str:
    """An admin of Guangdong (44), without the person-data grant."""
    return make_user(hub, "admin_gd", role="admin", region="440000")


@pytest.fixture
def nation_admin(hub: HubContext) -> str:
    return make_user(hub, "admin_cn", role="admin", region="000000", person_data=True)


@pytest.fixture
def nanshan_clerk(hub: HubContext) -> str:
    """A clerk of Shenzhen Nanshan (440305)."""
    return make_user(hub, "clerk_nanshan", role="county", region="440305")


@pytest.fixture
def other_client(hub: HubContext) -> Iterator[TestClient]:
    """A second browser, with its own cookies."""
    with client_for(hub) as test_client:
        yield test_client

"""Console fixtures: accounts of each scope and clients signed in as them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from tests.fixtures.hub import client_for
from tests.web.helpers import make_user


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

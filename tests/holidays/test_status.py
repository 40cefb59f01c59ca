"""Saying so when deadlines fall back: ``/readyz``, ``/metrics`` and the nation admin's banner.

The table covers the years up to 2026 (``conftest.py``); the clock is pinned
on either side of the 60 days before 1 Jan 2027.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from tests.fixtures.hub import MemberKey
from tests.holidays.helpers import load_fixture, shanghai
from tests.web.helpers import make_user, sign_in

COVERED = "2026-10-01 10:00"  # the next 60 days end on 30 Nov 2026
UNCOVERED = "2026-12-02 10:00"  # they reach into 2027


def test_readyz_reports_the_calendar(client: TestClient, clock: Clock) -> None:
    clock.pin(shanghai(COVERED))
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["calendar_covered_until"] == "2026-12-31"
    assert "calendar_warning" not in ready.json()


def test_readyz_warns_but_stays_ready_when_the_next_60_days_are_not_covered(
    hub: HubContext, client: TestClient, clock: Clock
) -> None:
    clock.pin(shanghai(UNCOVERED))
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert ready.json()["calendar_covered_until"] == "2026-12-31"
    assert "exchange-hub calendar load" in ready.json()["calendar_warning"]
    load_fixture(hub)
    after = client.get("/readyz").json()
    assert after["calendar_covered_until"] == "2027-12-31" and "calendar_warning" not in after


def test_readyz_in_a_year_not_covered(client: TestClient, clock: Clock) -> None:
    clock.pin(shanghai("2027-02-08 10:00"))  # inside Spring Festival 2027, nothing loaded
    ready = client.get("/readyz").json()
    assert ready["calendar_covered_until"] == "2026-12-31" and "calendar_warning" in ready


def _gauge(client: TestClient, admin: MemberKey) -> float:
    response = client.get("/metrics", headers=admin.headers)
    assert response.status_code == 200
    found = re.search(r"^hub_calendar_covered_until (\S+)$", response.text, re.MULTILINE)
    assert found, response.text
    return float(found.group(1))


def test_metrics_expose_the_end_of_the_covered_years(
    hub: HubContext, client: TestClient, clock: Clock, admin_nation: MemberKey
) -> None:
    clock.pin(shanghai(UNCOVERED))
    assert _gauge(client, admin_nation) == shanghai("2027-01-01 00:00").timestamp()
    load_fixture(hub)
    assert _gauge(client, admin_nation) == shanghai("2028-01-01 00:00").timestamp()


def _banner(client: TestClient) -> str | None:
    page = client.get("/console/account")
    assert page.status_code == 200, page.text
    found = re.search(r'<div class="notice bad" role="alert" id="calendar-banner">(.*?)</div>',
                      page.text, re.DOTALL)  # fmt: skip
    return found.group(1) if found else None


def test_the_nation_admin_sees_a_banner_until_the_year_is_loaded(
    hub: HubContext, client: TestClient, clock: Clock
) -> None:
    clock.pin(shanghai(UNCOVERED))
    sign_in(client, make_user(hub, "admin_cn", role="admin", region="000000"))
    banner = _banner(client)
    assert banner is not None
    assert "2026-12-31" in banner and "exchange-hub calendar load" in banner
    assert "国务院办公厅" in banner and "/api/v1/calendar" in banner
    load_fixture(hub)
    assert _banner(client) is None


def test_no_banner_while_the_next_60_days_are_covered(
    hub: HubContext, client: TestClient, clock: Clock
) -> None:
    clock.pin(shanghai(COVERED))
    sign_in(client, make_user(hub, "admin_cn", role="admin", region="000000"))
    assert _banner(client) is None


@pytest.mark.parametrize(("role", "region"), [("admin", "440000"), ("county", "440305")])
def test_only_the_nation_admin_sees_the_banner(
    hub: HubContext, client: TestClient, clock: Clock, role: str, region: str
) -> None:
    clock.pin(shanghai(UNCOVERED))
    sign_in(client, make_user(hub, "someone", role=role, region=region))
    assert _banner(client) is None

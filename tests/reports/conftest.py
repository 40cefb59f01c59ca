"""Fixtures of the reports tests: reporters, pairs, and submissions at chosen times."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import pytest

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import DepartmentReport
from exchange_hub.reports import pairs, service
from exchange_hub.reports.catalogue import load_catalogue
from exchange_hub.scope import Caller
from exchange_hub.workdays import SHANGHAI
from tests.fixtures.hub import MemberKey, make_member


def shanghai(*parts: int) -> datetime:
    """A moment written in Beijing time (what county offices read on their clocks)."""
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


def reporter_caller(region: str, department: str) -> Caller:
    return Caller(
        member_id=uuid.uuid4(),
        name=f"{department} {region}",
        role="department",
        region=region,
        department=department,
    )


def submit(
    hub: HubContext,
    *,
    region: str,
    department: str,
    period: str,
    at: datetime,
    counts: dict[str, Any] | None = None,
    zero: bool | None = None,
) -> DepartmentReport:
    """Submit through the service, as the department's reporter, at the moment ``at``."""
    if counts is None and zero is None:
        zero = True
    with transaction(hub.sessions) as session:
        return service.submit_report(
            session,
            reporter_caller(region, department),
            department=department,
            region=region,
            period=period,
            counts=counts,
            zero=zero,
            catalogue=load_catalogue(),
            due_day=hub.settings.report_due_day,
            now=at,
        )


def activate(
    hub: HubContext, region: str, *departments: str, start: date, until: date | None = None
) -> None:
    with transaction(hub.sessions) as session:
        pairs.activate_pairs(
            session,
            region=region,
            departments=list(departments),
            active_from=start,
            active_until=until,
        )


@pytest.fixture
def police_a(hub: HubContext) -> MemberKey:
    """The police department reporter of Beijing Chaoyang (110105)."""
    return make_member(hub, role="department", region="110105", department="police")


@pytest.fixture
def health_a(hub: HubContext) -> MemberKey:
    return make_member(hub, role="department", region="110105", department="health")

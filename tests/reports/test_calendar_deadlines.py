"""Report deadlines follow the holiday arrangement loaded later (SPEC §7).

September 2027 is due on Sunday 3 Oct 2027. Without the 2027 arrangement the
weekend rule moves it to Monday 4 Oct; the test arrangement
(tests/fixtures/calendar-2027-test.csv) rests from 1 to 7 Oct, so officially
it is due on Friday 8 Oct.
"""

from __future__ import annotations

from datetime import UTC

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import AuditEvent, DepartmentReport
from exchange_hub.reports import service
from exchange_hub.scope import NATION, Caller
from tests.fixtures.hub import MemberKey
from tests.holidays.helpers import arrangement_until, end_of, load_fixture
from tests.holidays.helpers import shanghai as beijing
from tests.reports.conftest import activate, shanghai, submit

ADMIN = Caller(member_id=None, name="test", role="admin", region=NATION)
FALLBACK, OFFICIAL = end_of("2027-10-04"), end_of("2027-10-08")


@pytest.fixture(autouse=True)
def _arrangement_until_2026(hub: HubContext) -> None:
    arrangement_until(hub, 2026)  # as chinese-calendar 1.11.0 left it


def _missing_deadlines(hub: HubContext) -> dict[str, object]:
    with hub.sessions() as session:
        missing = service.missing_for(
            session, ADMIN, region="110105", period="2027-09", as_of=shanghai(2027, 10, 6, 12)
        )
        return {m.department: (m.deadline, m.overdue) for m in missing}


def test_a_reminder_follows_the_loaded_arrangement(hub: HubContext, clock: Clock) -> None:
    clock.pin(beijing("2027-10-06 12:00"))
    activate(hub, "110105", "health", start=shanghai(2027, 1, 1).date())
    assert _missing_deadlines(hub) == {"health": (FALLBACK, True)}
    load_fixture(hub)
    assert _missing_deadlines(hub) == {"health": (OFFICIAL, False)}


def test_a_report_received_before_the_load_is_recomputed(
    hub: HubContext, client: TestClient, clock: Clock, admin_nation: MemberKey
) -> None:
    clock.pin(beijing("2027-10-06 12:00"))
    activate(hub, "110105", "police", start=shanghai(2027, 1, 1).date())
    received = shanghai(2027, 10, 6, 10)  # after the fallback deadline, before the official one
    report = submit(hub, region="110105", department="police", period="2027-09", at=received)
    assert (report.deadline, report.on_time) == (FALLBACK, False)
    before = _rates(client, admin_nation)
    assert (before["received"], before["on_time"]) == (1, 0)
    load_fixture(hub)
    with transaction(hub.sessions) as session:
        stored = session.get(DepartmentReport, report.id)
        assert stored is not None
        assert (stored.deadline, stored.on_time) == (OFFICIAL, True)
        assert stored.first_submitted_at == received
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "report.deadline_recomputed")
        ).one()
    assert audit.detail["changes"] == [
        {"id": str(report.id), "region": "110105", "department": "police", "period": "2027-09",
         "old_deadline": FALLBACK.astimezone(UTC).isoformat(),
         "new_deadline": OFFICIAL.astimezone(UTC).isoformat(), "on_time": True}
    ]  # fmt: skip
    after = _rates(client, admin_nation)
    assert (after["received"], after["on_time"]) == (1, 1)


def test_reports_outside_the_loaded_days_keep_their_deadline(hub: HubContext) -> None:
    report = submit(
        hub, region="110105", department="police", period="2026-09", at=shanghai(2026, 10, 9)
    )  # fmt: skip
    load_fixture(hub)
    with hub.sessions() as session:
        stored = session.get(DepartmentReport, report.id)
        assert stored is not None and (stored.deadline, stored.on_time) == (report.deadline, False)


def _rates(client: TestClient, admin: MemberKey) -> dict[str, int]:
    query = "region=110105&period=2027-09"
    response = client.get(f"/api/v1/reports/rates?{query}", headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["total"]  # type: ignore[no-any-return]

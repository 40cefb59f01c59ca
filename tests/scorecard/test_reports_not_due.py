"""A department report not yet due at the evaluation time is not missing; once its deadline
(the 3rd of the next month, moved off rest days) has passed, it is (issue 17, item 7).

The clock is pinned to the 1st of a month; the period is the month before, whose reports
are due at ``report_deadline`` (computed with the hub's working-day calendar)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.periods import Month, month_of
from exchange_hub.reports import pairs
from exchange_hub.reports.periods import report_deadline
from exchange_hub.workdays import SHANGHAI
from exchange_hub.workdays_store import calendar_of
from tests.fixtures.hub import MemberKey, make_member
from tests.scorecard.factories import make_records

NANSHAN = "440305"
FIRST_OF_DECEMBER = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def period(hub: HubContext, clock: Clock) -> Month:
    """The month before the pinned clock's; police and health owe Nanshan a report for it."""
    clock.pin(FIRST_OF_DECEMBER)
    month = month_of(clock.now()).preceding()
    with transaction(hub.sessions) as session:
        pairs.activate_pairs(
            session, region=NANSHAN, departments=["police", "health"],
            active_from=month.first_day,
        )  # fmt: skip
        registered = datetime.combine(month.first_day, datetime.min.time(), SHANGHAI)
        inflows = [dict(kind="inflow", county=NANSHAN, created_at=registered + timedelta(days=9),
                        certificate_checked=True)] * 4  # fmt: skip
        make_records(session, hub.keyring, inflows)
    return month


def _deadline(hub: HubContext, month: Month) -> datetime:
    with hub.sessions() as session:
        return report_deadline(month, calendar_of(session), hub.settings.report_due_day)


def _indicators(client: TestClient, admin: MemberKey, month: Month) -> dict[str, dict]:
    response = client.get(
        "/api/v1/scorecard", params={"region": NANSHAN, "period": month.label},
        headers=admin.headers,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return {i["key"]: i for i in response.json()["total"]["indicators"]}


def _report(
    client: TestClient, hub: HubContext, month: Month, department: str, **counts: int
) -> None:
    member = make_member(hub, role="department", region=NANSHAN, department=department)
    body = {"department": department, "region": NANSHAN, "period": month.label, "counts": counts}
    response = client.post("/api/v1/reports", json=body, headers=member.headers)
    assert response.status_code in (200, 201), response.text


def test_reports_not_due_are_not_missing_until_the_deadline_passed(
    client: TestClient, hub: HubContext, clock: Clock, admin_gd: MemberKey, period: Month
) -> None:
    deadline = _deadline(hub, period)
    assert clock.now() < deadline
    before = _indicators(client, admin_gd, period)
    reporting = before["department_reporting_rate"]
    assert (reporting["numerator"], reporting["denominator"], reporting["rate"]) == (0, 0, None)
    assert reporting["met"] is None  # nothing is held against Nanshan yet
    assert before["inflow_registration_rate"]["status"] == "not_due"
    assert before["information_submission_rate"]["status"] == "not_due"

    # The police report comes early: it counts, and health (not due yet) is still not missing.
    clock.pin(deadline - timedelta(hours=12))
    _report(client, hub, period, "police", temporary_residence_registrations=4)
    early = _indicators(client, admin_gd, period)
    assert (early["department_reporting_rate"]["numerator"],
            early["department_reporting_rate"]["denominator"]) == (1, 1)  # fmt: skip
    assert early["department_reporting_rate"]["met"] is True
    assert early["inflow_registration_rate"]["status"] == "ok"
    assert early["inflow_registration_rate"]["rate"] == pytest.approx(1.0)
    assert early["information_submission_rate"]["status"] == "not_due"

    # Past the deadline, the health report that never came is missing.
    clock.pin(deadline + timedelta(hours=1))
    after = _indicators(client, admin_gd, period)
    reporting = after["department_reporting_rate"]
    assert (reporting["numerator"], reporting["denominator"], reporting["met"]) == (1, 2, False)
    assert after["information_submission_rate"]["status"] == "no_report"
    rates = client.get(
        "/api/v1/reports/rates", params={"region": NANSHAN, "period": period.label},
        headers=admin_gd.headers,
    ).json()  # fmt: skip
    assert (rates["total"]["expected"], rates["total"]["not_yet_due"]) == (2, 0)


def test_the_report_rates_tell_owed_from_due(
    client: TestClient, hub: HubContext, admin_gd: MemberKey, period: Month
) -> None:
    response = client.get(
        "/api/v1/reports/rates", params={"region": NANSHAN, "period": period.label},
        headers=admin_gd.headers,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    total = response.json()["total"]
    assert (total["expected"], total["not_yet_due"], total["received"]) == (0, 2, 0)
    assert total["reporting_rate"] == {"numerator": 0, "denominator": 0, "rate": None}


def test_a_county_no_department_owes_a_report_has_no_data_not_no_report(
    client: TestClient, hub: HubContext, clock: Clock, admin_gd: MemberKey, period: Month
) -> None:
    clock.pin(_deadline(hub, period) + timedelta(days=1))
    response = client.get(
        "/api/v1/scorecard", params={"region": "440306", "period": period.label},
        headers=admin_gd.headers,
    )  # fmt: skip
    found = {i["key"]: i for i in response.json()["total"]["indicators"]}
    for key in ("inflow_registration_rate", "information_submission_rate"):
        assert found[key]["status"] == "no_data", key  # no reporting pair: nothing was owed
    assert _indicators(client, admin_gd, period)["inflow_registration_rate"]["status"] == (
        "no_report"
    )  # Nanshan's police owed one and sent none

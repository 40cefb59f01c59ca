"""Report deadlines recomputed after the holiday arrangement changed (SPEC §7).

Deadlines of reports not received yet are computed whenever they are needed
(reminders, ``periods.report_deadline``), so they follow a load on their own.
A received report keeps the deadline and timeliness of its first submission;
when the arrangement of a day its deadline's computation ran over is loaded
or corrected later, both are recomputed with the calendar the load holds (the
first submission's time stays) and the change is audited.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub.audit import service as audit
from exchange_hub.models import DepartmentReport
from exchange_hub.periods import Month, parse_month
from exchange_hub.reports import repository
from exchange_hub.reports.periods import report_deadline
from exchange_hub.scope import Caller
from exchange_hub.workdays import start_of_day_utc
from exchange_hub.workdays_store import calendar_of

AUDIT_ACTION = "report.deadline_recomputed"


def recompute_deadlines(
    session: Session, caller: Caller, *, span: tuple[date, date], due_day: int
) -> list[dict[str, Any]]:
    """Recompute the stored deadlines ``span`` (first and last day loaded) may have moved."""
    calendar = calendar_of(session)
    moved = []
    for report in _candidates(session, span):
        deadline = report_deadline(parse_month(report.period), calendar, due_day)
        if deadline != report.deadline:
            moved.append(_change(report, deadline))
            report.deadline, report.on_time = deadline, report.first_submitted_at <= deadline
    if moved:
        audit.record(
            session,
            audit.entry_for(
                caller, AUDIT_ACTION, object_type="department_report",
                request_id=session.info.get("request_id"),
                detail={"count": len(moved), "reason": "calendar loaded", "changes": moved},
            ),
        )  # fmt: skip
    return moved


def _candidates(session: Session, span: tuple[date, date]) -> list[DepartmentReport]:
    """Reports due (the month after their period) by the span's last day, with a
    deadline on or after its first."""
    last_period = Month(span[1].year, span[1].month).preceding().label
    return repository.reports_with_deadline_to_recompute(
        session, deadline_from=start_of_day_utc(span[0]), last_period=last_period
    )


def _change(report: DepartmentReport, deadline: datetime) -> dict[str, Any]:
    return {
        "id": str(report.id), "region": report.region, "department": report.department,
        "period": report.period, "old_deadline": report.deadline.isoformat(),
        "new_deadline": deadline.isoformat(), "on_time": report.first_submitted_at <= deadline,
    }  # fmt: skip

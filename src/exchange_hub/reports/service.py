"""Department monthly reports (部门信息月报): submission, corrections, reading, admin views.

Police, civil affairs, health, HR, housing, market regulation, education and
transport offices of each county report to the county population office
every month by the 3rd of the next month (遇休息日顺延); a month with nothing
to report still needs a zero report (零通报). Reference 001 §三, §四(二).

Figures (expected, received, on time, zero; rates; reminders) are in
``reports.rates``; ``report_rates`` is re-exported here for the bulletin.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.audit import service as audit
from exchange_hub.db import data_moment
from exchange_hub.errors import Forbidden, InvalidInput, NotFound
from exchange_hub.models import DepartmentReport, DepartmentReportVersion
from exchange_hub.models.base import new_id
from exchange_hub.periods import Month, month_of, parse_month, parse_period
from exchange_hub.regions import service as regions
from exchange_hub.reports import repository
from exchange_hub.reports.catalogue import ReportCatalogue, ReportType
from exchange_hub.reports.periods import report_deadline
from exchange_hub.reports.rates import (
    REPORT_RATE_COLUMNS,
    MissingReport,
    ReportRates,
    compute_report_rates,
    missing_reports,
    report_rates,
)
from exchange_hub.scope import (
    DEPARTMENTS,
    Caller,
    require_admin_over,
    require_role,
    require_scope,
    scope_prefix,
)
from exchange_hub.workdays_store import calendar_of

__all__ = ["REPORT_RATE_COLUMNS", "report_rates"]

MAX_COUNT = 100_000_000
"""No county office counts more than this in a month; larger numbers are typing errors."""


# -- submission -------------------------------------------------------------------
def submit_report(
    session: Session,
    caller: Caller,
    *,
    department: str,
    region: str,
    period: str,
    counts: Mapping[str, Any] | None,
    zero: bool | None,
    catalogue: ReportCatalogue,
    due_day: int = 3,
    now: datetime | None = None,
) -> DepartmentReport:
    """Record a report, or a correction of it (a new version; timeliness stays the first's)."""
    now = now or clock.now()
    county = _require_reporter_for(session, caller, department=department, region=region)
    month = _reportable_month(period, now)
    is_zero, checked = _checked_content(_report_type(catalogue, department), counts, zero)
    report = repository.find_report(session, county, department, month.label, for_update=True)
    if report is None:
        report = _first_submission(session, county, department, month, due_day, now)
    if report is None:  # another first submission committed meanwhile: this one corrects it
        report = repository.find_report(session, county, department, month.label, for_update=True)
        assert report is not None
    report.version += 1  # 1 for a first submission (created at 0), n + 1 for a correction
    report.zero, report.counts, report.updated_at = is_zero, checked, now
    session.add(
        DepartmentReportVersion(
            report_id=report.id, version=report.version, zero=is_zero, counts=checked,
            submitted_at=now, submitted_by=caller.member_id,
        )
    )  # fmt: skip
    session.flush()
    _audit_submission(session, caller, report)
    return report


def _require_reporter_for(session: Session, caller: Caller, *, department: str, region: str) -> str:
    """The reporter's own department and county only (SPEC §6); returns the county code."""
    require_role(caller, "department")
    if department != caller.department:
        raise Forbidden(
            f"you report for the department {caller.department}, not {department}",
            field="department",
        )
    county = regions.normalise_code(region, field="region")
    if county != caller.region:
        raise Forbidden(f"you report for county {caller.region}, not {county}", field="region")
    return regions.require_current_county(session, county, field="region").code


def _reportable_month(period: str, now: datetime) -> Month:
    month = parse_month(period)
    if month > month_of(now):
        raise InvalidInput(
            f"period {month} is in the future (it is {month_of(now)} in Asia/Shanghai)",
            field="period",
        )
    return month


def _report_type(catalogue: ReportCatalogue, department: str) -> ReportType:
    report_type = catalogue.report_type(department)
    if report_type is None:  # pragma: no cover - the bundled catalogue covers every department
        raise InvalidInput(f"no report type is defined for {department}", field="department")
    return report_type


def _checked_content(
    report_type: ReportType, counts: Mapping[str, Any] | None, zero: bool | None
) -> tuple[bool, dict[str, int]]:
    """Exactly one of ``counts`` and ``zero: true``; counts are known items, whole and >= 0."""
    if zero and counts is not None:
        raise InvalidInput("send either counts or zero: true, not both", field="zero")
    if zero:
        return True, {}
    if counts is None:
        raise InvalidInput(
            "send counts, or zero: true for a month with nothing to report", field="counts"
        )
    if not counts:
        raise InvalidInput(
            "counts names no item; send zero: true for a month with nothing to report",
            field="counts",
        )
    return False, {item: _checked_count(report_type, item, value) for item, value in counts.items()}


def _checked_count(report_type: ReportType, item: str, value: Any) -> int:
    field = f"counts.{item}"
    if item not in report_type.items:
        known = ", ".join(report_type.items)
        raise InvalidInput(
            f"{item!r} is not an item of the {report_type.department} report (known: {known})",
            field=field,
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number", field=field)
    if not 0 <= value <= MAX_COUNT:
        raise InvalidInput(f"{field} must be between 0 and {MAX_COUNT}", field=field)
    return value


def _first_submission(
    session: Session, county: str, department: str, month: Month, due_day: int, now: datetime
) -> DepartmentReport | None:
    """A new report at version 0 (the caller numbers it), or None if another one won the race.

    Two first submissions at once both find nothing; the unique key lets one
    insert and makes the other wait for it and fail, inside a savepoint.
    """
    deadline = report_deadline(month, calendar_of(session), due_day)
    report = DepartmentReport(
        id=new_id(), region=county, department=department, period=month.label,
        deadline=deadline, first_submitted_at=now, on_time=now <= deadline, version=0,
        zero=False, counts={}, updated_at=now,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError:
        return None
    return report


def _audit_submission(session: Session, caller: Caller, report: DepartmentReport) -> None:
    action = "report.submit" if report.version == 1 else "report.correct"
    detail = {
        "department": report.department, "region": report.region, "period": report.period,
        "version": report.version, "zero": report.zero, "on_time": report.on_time,
    }  # fmt: skip
    audit.record(
        session,
        audit.entry_for(
            caller, action, object_type="department_report", object_id=str(report.id),
            detail=detail,
        ),
    )  # fmt: skip


# -- reading ----------------------------------------------------------------------
@dataclass(frozen=True)
class ReportPage:
    items: Sequence[DepartmentReport]
    next_cursor: str | None


def list_reports(
    session: Session,
    caller: Caller,
    *,
    region: str,
    period: str,
    department: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> ReportPage:
    """Reports of the counties inside ``region``: a county's members read their own county's."""
    code = regions.get_region(session, region).code
    require_scope(caller, code)
    if department is not None and department not in DEPARTMENTS:
        raise InvalidInput(
            f"department must be one of {', '.join(DEPARTMENTS)}", field="department"
        )
    labels = list(parse_period(period).labels)
    items = repository.reports_page(
        session, scope_prefix(code), labels, department, _parse_cursor(cursor), limit + 1
    )
    if len(items) <= limit:
        return ReportPage(items, None)
    last = items[limit - 1]
    return ReportPage(items[:limit], f"{last.period}:{last.region}:{last.department}")


def _parse_cursor(cursor: str | None) -> tuple[str, str, str] | None:
    if not cursor:
        return None
    parts = cursor.split(":")
    if len(parts) != 3 or not all(parts):
        raise InvalidInput("cursor is not one this hub handed out", field="cursor")
    return parts[0], parts[1], parts[2]


def get_report(
    session: Session, caller: Caller, report_id: uuid.UUID
) -> tuple[DepartmentReport, Sequence[DepartmentReportVersion]]:
    """A report and every version of it; invisible reports look missing (SPEC §6)."""
    report = repository.get_report(session, report_id)
    if report is None or not caller.covers(report.region):
        raise NotFound(f"no report {report_id}", field="report_id")
    return report, repository.versions_of(session, report.id)


# -- figures for admins -----------------------------------------------------------
def rates_for(
    session: Session, caller: Caller, *, region: str, period: str, level: str | None,
    as_of: datetime | None = None,
) -> ReportRates:  # fmt: skip
    """Expected / received / on-time / zero reports of the regions under an admin."""
    code = regions.get_region(session, region).code
    require_admin_over(caller, code)
    moment = data_moment(session, as_of, clock.now())  # a replica's rates say how old they are
    return compute_report_rates(session, region=code, period=period, level=level, as_of=moment)


REMINDER_LOOKBACK_MONTHS = 12


def missing_for(
    session: Session, caller: Caller, *, region: str, period: str | None,
    as_of: datetime | None = None, due_day: int = 3,
) -> list[MissingReport]:  # fmt: skip
    """Who has not reported (催报): the period's months, or the last 12; most overdue first."""
    top = regions.get_region(session, region)
    require_admin_over(caller, top.code)
    as_of = data_moment(session, as_of, clock.now())
    months = list(parse_period(period).months) if period else _recent_months(as_of)
    return missing_reports(session, region=top, months=months, as_of=as_of, due_day=due_day)


def _recent_months(as_of: datetime) -> list[Month]:
    """The months before the current one, newest first, back ``REMINDER_LOOKBACK_MONTHS``."""
    months, month = [], month_of(as_of)
    for _ in range(REMINDER_LOOKBACK_MONTHS):
        month = month.preceding()
        months.append(month)
    return months

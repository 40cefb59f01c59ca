"""Reporting pairs (应报单位): which county–department pairs owe monthly reports, and when.

An operator activates a pair from a date (and optionally until one) and
deactivates it; a pair owes a report for every month it is active in full,
so a department that joins mid-month is not counted as late for that month.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.errors import InvalidInput
from exchange_hub.models import ReportingPair
from exchange_hub.regions import service as regions
from exchange_hub.reports import repository
from exchange_hub.reports.catalogue import ReportCatalogue
from exchange_hub.scope import scope_prefix


@dataclass(frozen=True)
class PairChange:
    region: str
    department: str
    changed: bool
    note: str


def counties_in(session: Session, region: str) -> list[str]:
    """A current county itself, or every current county inside a prefecture or province."""
    top = regions.get_region(session, region)
    if top.level == "county":
        return [regions.require_current_county(session, top.code, field="region").code]
    prefix = scope_prefix(top.code)
    return regions.current_counties_under(session, prefix)


def check_departments(departments: Sequence[str], catalogue: ReportCatalogue) -> list[str]:
    """Department names (``all`` = every department with a report type)."""
    if list(departments) == ["all"]:
        return list(catalogue.departments)
    for department in departments:
        if catalogue.report_type(department) is None:
            known = ", ".join(catalogue.departments)
            raise InvalidInput(
                f"unknown department {department!r} (known: {known})", field="department"
            )
    return list(dict.fromkeys(departments))


def activate_pairs(
    session: Session, *, region: str, departments: Sequence[str], active_from: date,
    active_until: date | None = None,
) -> list[PairChange]:  # fmt: skip
    """Make county–department pairs owe monthly reports from ``active_from`` (inclusive).

    A pair already active on any of those days is left as it is (reported).
    """
    if active_until is not None and active_until < active_from:
        raise InvalidInput("--until is before --from", field="until")
    changes = []
    for county in counties_in(session, region):
        for department in departments:
            changes.append(_activate_one(session, county, department, active_from, active_until))
    session.flush()
    return changes


def _activate_one(
    session: Session, county: str, department: str, start: date, end: date | None
) -> PairChange:
    intervals = repository.pair_intervals(session, county, department)
    for interval in intervals:
        if _overlaps(interval, start, end):
            note = f"already active from {interval.active_from} to {interval.active_until or '—'}"
            return PairChange(county, department, False, note)
    now = clock.now()
    previous = next((i for i in intervals if i.active_until == start - timedelta(days=1)), None)
    if previous is not None:
        # Continues an interval that ended the day before: one interval, so the month
        # spanning both still counts as active in full.
        previous.active_until, previous.updated_at = end, now
        start = previous.active_from
    else:
        session.add(
            ReportingPair(
                region=county, department=department, active_from=start, active_until=end,
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    return PairChange(county, department, True, f"active from {start} to {end or '—'}")


def _overlaps(interval: ReportingPair, start: date, end: date | None) -> bool:
    starts_before_end = end is None or interval.active_from <= end
    ends_after_start = interval.active_until is None or interval.active_until >= start
    return starts_before_end and ends_after_start


def deactivate_pairs(
    session: Session, *, region: str, departments: Sequence[str], until: date
) -> list[PairChange]:
    """End the pairs' activity after ``until`` (the last day they owe reports for)."""
    changes = []
    for county in counties_in(session, region):
        for department in departments:
            changes.append(_deactivate_one(session, county, department, until))
    session.flush()
    return changes


def _deactivate_one(session: Session, county: str, department: str, until: date) -> PairChange:
    for interval in repository.pair_intervals(session, county, department):
        if _overlaps(interval, until, until):
            interval.active_until, interval.updated_at = until, clock.now()
            return PairChange(county, department, True, f"active until {until}")
    return PairChange(county, department, False, f"not active on {until}")


def list_pairs(session: Session, *, region: str) -> Sequence[ReportingPair]:
    code = regions.get_region(session, region).code
    return repository.pairs_under(session, scope_prefix(code))

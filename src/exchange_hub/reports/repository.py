"""Queries of the reports domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Row, SQLColumnExpression, or_, select
from sqlalchemy.orm import Session

from exchange_hub.models import DepartmentReport, DepartmentReportVersion, Region, ReportingPair


@dataclass(frozen=True)
class CurrentVersion:
    zero: bool
    counts: dict[str, int]


def _under(column: SQLColumnExpression[str], prefix: str) -> ColumnElement[bool]:
    """``column`` inside the region whose codes share ``prefix`` ("" = everywhere)."""
    return column.like(f"{prefix}%") if prefix else column.is_not(None)


# -- reporting pairs -------------------------------------------------------------
def pair_intervals(session: Session, region: str, department: str) -> Sequence[ReportingPair]:
    return session.scalars(
        select(ReportingPair)
        .where(ReportingPair.region == region, ReportingPair.department == department)
        .order_by(ReportingPair.active_from)
    ).all()


def pairs_under(session: Session, prefix: str) -> Sequence[ReportingPair]:
    return session.scalars(
        select(ReportingPair)
        .where(_under(ReportingPair.region, prefix))
        .order_by(ReportingPair.region, ReportingPair.department, ReportingPair.active_from)
    ).all()


def pairs_active_all_month(
    session: Session, prefix: str, first_day: date, last_day: date
) -> set[tuple[str, str]]:
    """(county, department) pairs whose one interval covers the whole month."""
    rows = session.execute(
        select(ReportingPair.region, ReportingPair.department)
        .where(
            _under(ReportingPair.region, prefix),
            ReportingPair.active_from <= first_day,
            or_(ReportingPair.active_until.is_(None), ReportingPair.active_until >= last_day),
        )
        .distinct()
    ).all()
    return {(row.region, row.department) for row in rows}


# -- reports ---------------------------------------------------------------------
def get_report(session: Session, report_id: uuid.UUID) -> DepartmentReport | None:
    return session.get(DepartmentReport, report_id)


def find_report(
    session: Session, region: str, department: str, period: str, *, for_update: bool = False
) -> DepartmentReport | None:
    query = select(DepartmentReport).where(
        DepartmentReport.region == region,
        DepartmentReport.department == department,
        DepartmentReport.period == period,
    )
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def versions_of(session: Session, report_id: uuid.UUID) -> Sequence[DepartmentReportVersion]:
    return session.scalars(
        select(DepartmentReportVersion)
        .where(DepartmentReportVersion.report_id == report_id)
        .order_by(DepartmentReportVersion.version)
    ).all()


def reports_page(
    session: Session,
    prefix: str,
    periods: Iterable[str],
    department: str | None,
    after: tuple[str, str, str] | None,
    limit: int,
) -> Sequence[DepartmentReport]:
    """Reports in (period, region, department) order, after a keyset cursor."""
    query = select(DepartmentReport).where(
        _under(DepartmentReport.region, prefix), DepartmentReport.period.in_(list(periods))
    )
    if department:
        query = query.where(DepartmentReport.department == department)
    if after is not None:
        period, region, dept = after
        query = query.where(
            or_(
                DepartmentReport.period > period,
                (DepartmentReport.period == period) & (DepartmentReport.region > region),
                (DepartmentReport.period == period)
                & (DepartmentReport.region == region)
                & (DepartmentReport.department > dept),
            )
        )
    order = (DepartmentReport.period, DepartmentReport.region, DepartmentReport.department)
    return session.scalars(query.order_by(*order).limit(limit)).all()


ReportKey = tuple[str, str, str]
"""(county, department, period): what identifies a report."""


def _received(
    prefix: str, periods: Iterable[str], as_of: datetime
) -> tuple[ColumnElement[bool], ...]:
    return (
        _under(DepartmentReport.region, prefix),
        DepartmentReport.period.in_(list(periods)),
        DepartmentReport.first_submitted_at <= as_of,
    )


def received_reports(
    session: Session, prefix: str, periods: Iterable[str], as_of: datetime
) -> Sequence[Row[str, str, str, bool, bool]]:
    """Reports first submitted by ``as_of``: region, department, period, on_time, and the
    latest version's ``zero``."""
    return session.execute(
        select(
            DepartmentReport.region,
            DepartmentReport.department,
            DepartmentReport.period,
            DepartmentReport.on_time,
            DepartmentReport.zero,
        ).where(*_received(prefix, periods, as_of))
    ).all()


def corrected_after(session: Session, prefix: str, periods: Iterable[str], as_of: datetime) -> bool:
    """Was any of these reports received by ``as_of`` corrected after it?"""
    query = select(DepartmentReport.id).where(
        *_received(prefix, periods, as_of), DepartmentReport.updated_at > as_of
    )
    return session.execute(query.limit(1)).first() is not None


def received_department_reports(
    session: Session, prefix: str, periods: Iterable[str], as_of: datetime, department: str
) -> Sequence[Row[uuid.UUID, str]]:
    """One department's reports first submitted by ``as_of``: id, region."""
    return session.execute(
        select(DepartmentReport.id, DepartmentReport.region).where(
            *_received(prefix, periods, as_of), DepartmentReport.department == department
        )
    ).all()


def _versions_until(prefix: str, periods: Iterable[str], as_of: datetime, *columns):  # type: ignore[no-untyped-def]
    return (
        select(DepartmentReportVersion.report_id, *columns)
        .join(DepartmentReport, DepartmentReport.id == DepartmentReportVersion.report_id)
        .where(
            _under(DepartmentReport.region, prefix),
            DepartmentReport.period.in_(list(periods)),
            DepartmentReportVersion.submitted_at <= as_of,
        )
        .order_by(DepartmentReportVersion.report_id, DepartmentReportVersion.version)
    )


def zero_flags_as_of(
    session: Session, prefix: str, periods: Iterable[str], as_of: datetime
) -> dict[ReportKey, bool]:
    """Whether the version of each report current at ``as_of`` was a zero report."""
    query = _versions_until(
        prefix, periods, as_of, DepartmentReport.region, DepartmentReport.department,
        DepartmentReport.period, DepartmentReportVersion.zero,
    )  # fmt: skip
    return {(row.region, row.department, row.period): row.zero for row in session.execute(query)}


def versions_as_of(
    session: Session, prefix: str, periods: Iterable[str], as_of: datetime, department: str
) -> dict[uuid.UUID, CurrentVersion]:
    """The version of each of a department's reports current at ``as_of`` (zero, counts)."""
    query = _versions_until(
        prefix, periods, as_of, DepartmentReportVersion.zero, DepartmentReportVersion.counts
    ).where(DepartmentReport.department == department)
    return {row.report_id: CurrentVersion(row.zero, row.counts) for row in session.execute(query)}


# -- regions ---------------------------------------------------------------------
def regions_under(session: Session, prefix: str) -> dict[str, Region]:
    """Every region inside ``prefix`` plus the nation (the roll-up walks parents)."""
    rows = session.scalars(
        select(Region).where(or_(_under(Region.code, prefix), Region.code == "000000"))
    ).all()
    return {row.code: row for row in rows}


def received_keys(
    session: Session, prefix: str, period: str, as_of: datetime
) -> set[tuple[str, str]]:
    """(county, department) of the reports for ``period`` first submitted by ``as_of``."""
    rows = session.execute(
        select(DepartmentReport.region, DepartmentReport.department).where(
            _under(DepartmentReport.region, prefix),
            DepartmentReport.period == period,
            DepartmentReport.first_submitted_at <= as_of,
        )
    ).all()
    return {(row.region, row.department) for row in rows}


def reports_with_deadline_to_recompute(
    session: Session, *, deadline_from: datetime, last_period: str
) -> list[DepartmentReport]:
    """Reports of periods up to ``last_period`` with a deadline at or after
    ``deadline_from``; locked, by id."""
    query = (
        select(DepartmentReport)
        .where(DepartmentReport.deadline >= deadline_from, DepartmentReport.period <= last_period)
        .order_by(DepartmentReport.id)
        .with_for_update()
    )
    return list(session.scalars(query))

"""Scorecard queries (issue 16): a province's settings, and the records and messages the
indicators count or list.

Regions are given as ``[low, high)`` code bounds (``metrics.figures.code_range``,
None for the nation), months as their Shanghai bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, func, or_, select
from sqlalchemy.orm import Session

from exchange_hub.models import Message
from exchange_hub.models.record import Record
from exchange_hub.models.scorecard import ScorecardSetting

Bounds = tuple[str, str] | None

RecordCountRow = tuple[str, str, int, int | None, int | None, int | None]
"""(registering county, kind, records, adults, adults checked, adults certified)."""


def settings_of(session: Session, province: str) -> Sequence[ScorecardSetting]:
    """A province's own targets and weights, by key."""
    query = select(ScorecardSetting).where(ScorecardSetting.province == province)
    return session.scalars(query.order_by(ScorecardSetting.key)).all()


def _in_bounds(column: SQLColumnExpression[str], bounds: Bounds) -> list[ColumnElement[bool]]:
    return [] if bounds is None else [column >= bounds[0], column < bounds[1]]


def _not_duplicate() -> ColumnElement[bool]:
    return or_(Record.deregister_reason.is_(None), Record.deregister_reason != "duplicate")


def _record_condition(which: str, adults_born_by: date) -> ColumnElement[bool]:
    adult = Record.birth_date <= adults_born_by
    return {
        "all": Record.id.is_not(None),
        "adult": adult,
        "checked": and_(adult, Record.certificate_checked.is_(True)),
        "certified": and_(
            adult, Record.certificate_number.is_not(None), Record.certificate_number != ""
        ),
    }[which]


def record_counts(
    session: Session, bounds: Bounds, start: datetime, end: datetime, adults_born_by: date
) -> list[RecordCountRow]:
    """Per registering county and kind: records registered in ``[start, end)`` (not
    deregistered as duplicates), adults among them, adults checked, adults certified."""

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((condition, 1), else_=0))

    query = (
        select(
            Record.registering_region,
            Record.kind,
            func.count(),
            count(_record_condition("adult", adults_born_by)),
            count(_record_condition("checked", adults_born_by)),
            count(_record_condition("certified", adults_born_by)),
        )
        .where(
            Record.created_at >= start,
            Record.created_at < end,
            _not_duplicate(),
            *_in_bounds(Record.registering_region, bounds),
        )
        .group_by(Record.registering_region, Record.kind)
    )
    return [
        (county, kind, int(total), adults, checked, certified)
        for county, kind, total, adults, checked, certified in session.execute(query)
    ]


def birth_notification_counts(session: Session, bounds: Bounds, period: str) -> dict[str, int]:
    """Per sending county: birth notifications of ``period`` not withdrawn."""
    query = (
        select(Message.from_region, func.count())
        .where(
            Message.kind == "notification",
            Message.subtype == "birth",
            Message.period == period,
            Message.state != "withdrawn",
            *_in_bounds(Message.from_region, bounds),
        )
        .group_by(Message.from_region)
    )
    return {county: int(n) for county, n in session.execute(query)}


def records_counted(
    session: Session,
    county: str,
    kind: str,
    which: str,
    *,
    start: datetime,
    end: datetime,
    adults_born_by: date,
) -> Sequence[Record]:
    """The records of ``county`` behind one count of ``record_counts`` (``which``: all,
    adult, checked, certified), oldest first."""
    query = (
        select(Record)
        .where(
            Record.registering_region == county,
            Record.kind == kind,
            Record.created_at >= start,
            Record.created_at < end,
            _not_duplicate(),
            _record_condition(which, adults_born_by),
        )
        .order_by(Record.created_at, Record.id)
    )
    return session.scalars(query).all()


def birth_notifications(session: Session, county: str, months: Sequence[str]) -> Sequence[Message]:
    """The birth notifications ``county`` sent for ``months``, not withdrawn, oldest first."""
    query = (
        select(Message)
        .where(
            Message.from_region == county, Message.kind == "notification",
            Message.subtype == "birth", Message.period.in_(months), Message.state != "withdrawn",
        )
        .order_by(Message.submitted_at, Message.id)
    )  # fmt: skip
    return session.scalars(query).all()


def messages_of(
    session: Session, county: str, months: Sequence[str], *, kind: str, as_responder: bool
) -> Sequence[Message]:
    """The messages of ``kind`` for ``months`` that ``county`` received (``as_responder``)
    or sent, oldest first."""
    side = Message.to_region if as_responder else Message.from_region
    query = (
        select(Message)
        .where(side == county, Message.kind == kind, Message.period.in_(months))
        .order_by(Message.submitted_at, Message.id)
    )
    return session.scalars(query).all()

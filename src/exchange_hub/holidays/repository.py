"""Queries of the working-day arrangement as the operator loads it (``calendar_days``,
``calendar_years``). Nothing here commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange_hub.models import CalendarDay, CalendarYear


def calendar_days_on(session: Session, days: Iterable[date]) -> dict[date, CalendarDay]:
    """The stored arrangement of these days, by day (days without one are left out)."""
    query = select(CalendarDay).where(CalendarDay.date.in_(list(days)))
    return {row.date: row for row in session.scalars(query)}


def calendar_years(session: Session) -> dict[int, CalendarYear]:
    """Every covered year, by year."""
    return {row.year: row for row in session.scalars(select(CalendarYear))}


def calendar_days_between(session: Session, first: date, last: date) -> Sequence[CalendarDay]:
    """The stored days from ``first`` to ``last`` (inclusive), in order."""
    query = select(CalendarDay).where(CalendarDay.date.between(first, last))
    return session.scalars(query.order_by(CalendarDay.date)).all()

"""Queries of the working-day arrangement as the deadline computations read it
(``calendar_days``, ``calendar_years``, ``calendar_revision``; ``workdays_store.py``).
Nothing here commits."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from exchange_hub.models import CalendarDay, CalendarRevision, CalendarYear

REVISION_ROW = 1


def current_revision(session: Session) -> int:
    """How many loads the arrangement has seen (0 before the first)."""
    query = select(CalendarRevision.revision).where(CalendarRevision.id == REVISION_ROW)
    return session.scalar(query) or 0


def lock_revision_exclusively(session: Session) -> None:
    """PostgreSQL: ``LOCK TABLE calendar_revision IN ACCESS EXCLUSIVE MODE``."""
    session.execute(text("LOCK TABLE calendar_revision IN ACCESS EXCLUSIVE MODE"))


def increment_revision(session: Session, now: datetime) -> None:
    session.execute(
        update(CalendarRevision)
        .where(CalendarRevision.id == REVISION_ROW)
        .values(revision=CalendarRevision.revision + 1, changed_at=now)
    )


def arranged_days(session: Session) -> list[tuple[date, str]]:
    """Every stored ``(date, kind)``: ``holiday`` (rest day) or ``workday`` (make-up day)."""
    rows = session.execute(select(CalendarDay.date, CalendarDay.kind)).all()
    return [(day, kind) for day, kind in rows]


def covered_years(session: Session) -> list[int]:
    return list(session.scalars(select(CalendarYear.year)))

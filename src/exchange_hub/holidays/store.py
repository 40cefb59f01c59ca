"""The table as a ``WorkingCalendar``, cached per engine and checked once per transaction.

Deadlines are computed for every message, often thousands in one batch, so
the calendar is read from the table once per process and revision: each
transaction asks ``calendar_revision`` once (one tiny query) and re-reads the
table only when another process or node loaded a new arrangement since.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session

from exchange_hub.models import CalendarDay, CalendarRevision, CalendarYear
from exchange_hub.workdays import SHANGHAI, WorkingCalendar

_SESSION_KEY = "working_calendar"
_REVISION_ROW = 1
_by_engine: weakref.WeakKeyDictionary[Engine, tuple[int, WorkingCalendar]] = (
    weakref.WeakKeyDictionary()
)


def calendar_of(session: Session) -> WorkingCalendar:
    """The working calendar as the table holds it (held for the rest of the transaction)."""
    held: WorkingCalendar | None = session.info.get(_SESSION_KEY)
    if held is not None:
        return held
    # The revision first, then the rows: a load committing in between leaves an
    # older stamp on newer rows, which only costs one more read next time.
    revision = current_revision(session)
    engine = session.get_bind().engine
    cached = _by_engine.get(engine)
    if cached is None or cached[0] != revision:
        cached = (revision, read_calendar(session))
        _by_engine[engine] = cached
    session.info[_SESSION_KEY] = cached[1]
    return cached[1]


def hold(session: Session, calendar: WorkingCalendar) -> None:
    """Use ``calendar`` for the rest of this transaction (a load, before it commits;
    other processes see it once it committed, through the revision)."""
    session.info[_SESSION_KEY] = calendar


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_SESSION_KEY, None)


def current_revision(session: Session) -> int:
    query = select(CalendarRevision.revision).where(CalendarRevision.id == _REVISION_ROW)
    return session.scalar(query) or 0


def bump_revision(session: Session, now: datetime) -> int:
    """Count a load. The row lock (PostgreSQL) makes concurrent loads take turns."""
    session.execute(
        update(CalendarRevision)
        .where(CalendarRevision.id == _REVISION_ROW)
        .values(revision=CalendarRevision.revision + 1, changed_at=now)
    )
    return current_revision(session)


def read_calendar(session: Session) -> WorkingCalendar:
    days = session.execute(select(CalendarDay.date, CalendarDay.kind)).all()
    return WorkingCalendar.of(
        holidays=[day for day, kind in days if kind == "holiday"],
        workdays=[day for day, kind in days if kind == "workday"],
        covered_years=session.scalars(select(CalendarYear.year)),
    )


@dataclass(frozen=True)
class CalendarStatus:
    """Whether deadlines ahead rest on the official arrangement (``/readyz``, console)."""

    covered_until: date | None
    next_days_covered: bool

    @property
    def covered_until_timestamp(self) -> float:
        """Unix time at which ``covered_until`` ends in Shanghai (0 when nothing is covered)."""
        if self.covered_until is None:
            return 0.0
        following = self.covered_until + timedelta(days=1)
        return datetime.combine(following, time.min, tzinfo=SHANGHAI).timestamp()


def calendar_status(session: Session, today: date) -> CalendarStatus:
    calendar = calendar_of(session)
    return CalendarStatus(calendar.covered_until(today), calendar.covers_next(today))

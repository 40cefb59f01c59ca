"""The working-day arrangement in ``calendar_days`` as a ``WorkingCalendar``, cached
per engine and checked once per transaction.

The operator loads the table through ``exchange_hub.holidays``; the domains
that compute deadlines (exchange, reports, metrics) read it here, so they need
not import ``holidays``, which imports them to recompute after a load.

Deadlines are computed for every message, often thousands in one batch, so
the calendar is read from the table once per process and revision: each
transaction asks ``calendar_revision`` once (one tiny query) and re-reads the
table only when another process or node loaded a new arrangement since.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from exchange_hub import workdays_repository as repository
from exchange_hub.db import is_lock_timeout, lock_wait
from exchange_hub.errors import Conflict
from exchange_hub.workdays import SHANGHAI, WorkingCalendar

_SESSION_KEY = "working_calendar"
LOAD_LOCK_WAIT = "10s"
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
    return repository.current_revision(session)


def lock_for_load(session: Session) -> None:
    """Make every transaction that reads the calendar wait until this load ends.

    Otherwise a message submitted while the load runs could read the old
    calendar, compute a ``weekends_only`` deadline and commit after the load
    looked for such messages to recompute. PostgreSQL: an exclusive lock on
    ``calendar_revision``, which every reader asks once per transaction; the
    load first waits for the transactions that already read it (a long batch,
    say) at most ``LOAD_LOCK_WAIT``, then refuses with 409. SQLite: writers
    take turns already (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    try:
        with lock_wait(session, LOAD_LOCK_WAIT):
            repository.lock_revision_exclusively(session)
    except OperationalError as exc:
        if not is_lock_timeout(exc):
            raise  # a lost connection and the like: the app answers 503
        error = Conflict(
            f"other work that reads the holiday calendar (a batch, say) did not finish within "
            f"{LOAD_LOCK_WAIT}; nothing was loaded: load the file again in a minute",
            field="calendar",
        )
        error.headers = {"Retry-After": "60"}
        raise error from exc


def bump_revision(session: Session, now: datetime) -> int:
    """Count a load (other processes re-read the table when they see it)."""
    repository.increment_revision(session, now)
    return current_revision(session)


def read_calendar(session: Session) -> WorkingCalendar:
    days = repository.arranged_days(session)
    return WorkingCalendar.of(
        holidays=[day for day, kind in days if kind == "holiday"],
        workdays=[day for day, kind in days if kind == "workday"],
        covered_years=repository.covered_years(session),
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

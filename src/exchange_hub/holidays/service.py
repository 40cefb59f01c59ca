"""Loading and showing the holiday calendar: one service for the CLI and the admin API.

A checked file (``notice.py``) is upserted; every year in which it lists a
holiday counts as covered from then on. Then the deadlines computed on the
weekend fallback, or over a day the file changed, are recomputed (messages
and received reports), the figures refreshed, and the load audited — all in
the caller's transaction, so a failure leaves nothing half-loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from exchange_hub import clock, workdays_store
from exchange_hub.audit import service as audit
from exchange_hub.errors import Forbidden, InvalidInput
from exchange_hub.exchange import deadlines as message_deadlines
from exchange_hub.holidays import repository
from exchange_hub.holidays.notice import FIRST_YEAR, LAST_YEAR, CalendarLine, read_calendar_csv
from exchange_hub.metrics import aggregates
from exchange_hub.models import CalendarDay, CalendarYear
from exchange_hub.reports import deadlines as report_deadlines
from exchange_hub.scope import NATION, Caller, require_role

SOURCE_LENGTH = 120  # calendar_days.source


# -- loading -------------------------------------------------------------------------
@dataclass(frozen=True)
class DayOutcome:
    day: date
    kind: str
    name: str
    outcome: str  # added | changed | unchanged
    previous_kind: str | None = None
    previous_name: str | None = None


@dataclass
class LoadResult:
    source: str
    days: list[DayOutcome]
    years_covered: list[int]
    newly_covered: list[int]
    covered_until: date | None
    messages_recomputed: int = 0
    reports_recomputed: int = 0
    revision: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """How many days the load added, changed and found unchanged."""
        outcomes = [day.outcome for day in self.days]
        return {k: outcomes.count(k) for k in ("added", "changed", "unchanged")}


def require_nation_admin(caller: Caller) -> None:
    require_role(caller, "admin")
    if caller.region != NATION:
        raise Forbidden(
            "the holiday calendar is loaded by the nation's admin (region 000000) only",
            field="region",
        )


def load_calendar_file(
    session: Session, caller: Caller, *, data: bytes, source: str, now: datetime | None = None
) -> LoadResult:
    """Check ``data`` (the CSV) and load it: all of it, or nothing (``InvalidInput``)."""
    require_nation_admin(caller)
    lines = read_calendar_csv(data)
    source = source[:SOURCE_LENGTH]  # a long file name, say
    return load_lines(session, caller, lines=lines, source=source, now=now or clock.now())


def load_lines(
    session: Session, caller: Caller, *, lines: list[CalendarLine], source: str, now: datetime
) -> LoadResult:
    workdays_store.lock_for_load(session)  # first: no deadline is computed meanwhile
    revision = workdays_store.bump_revision(session, now)
    outcomes = _upsert_days(session, lines, source, now)
    years = sorted({line.day.year for line in lines if line.kind == "holiday"})
    newly = _cover(session, years, source, now)
    session.flush()
    calendar = workdays_store.read_calendar(session)
    workdays_store.hold(session, calendar)
    result = LoadResult(
        source, outcomes, years, newly, calendar.covered_until(clock.today()), revision=revision
    )
    span = _span(outcomes, newly)
    if span is not None:
        _recompute(session, caller, result, span, now)
    audit.record(session, _audit_entry(session, caller, result))
    session.flush()
    return result


def _upsert_days(
    session: Session, lines: list[CalendarLine], source: str, now: datetime
) -> list[DayOutcome]:
    existing = repository.calendar_days_on(session, [line.day for line in lines])
    outcomes = []
    for line in sorted(lines, key=lambda item: item.day):
        row = existing.get(line.day)
        if row is None:
            session.add(CalendarDay(date=line.day, kind=line.kind, name=line.name,
                                    source=source, loaded_at=now))  # fmt: skip
            outcomes.append(DayOutcome(line.day, line.kind, line.name, "added"))
        elif (row.kind, row.name) == (line.kind, line.name):
            outcomes.append(DayOutcome(line.day, line.kind, line.name, "unchanged"))
        else:
            outcomes.append(
                DayOutcome(line.day, line.kind, line.name, "changed", row.kind, row.name)
            )
            row.kind, row.name, row.source, row.loaded_at = line.kind, line.name, source, now
    return outcomes


def _cover(session: Session, years: list[int], source: str, now: datetime) -> list[int]:
    """Mark ``years`` covered (by this source now); returns those not covered before."""
    existing = repository.calendar_years(session)
    newly = []
    for year in years:
        row = existing.get(year)
        if row is None:
            session.add(CalendarYear(year=year, source=source, loaded_at=now))
            newly.append(year)
        else:
            row.source, row.loaded_at = source, now
    return newly


def _span(outcomes: list[DayOutcome], newly: list[int]) -> tuple[date, date] | None:
    """The first and last day whose arrangement this load added, changed or newly covered."""
    days = [d.day for d in outcomes if d.outcome != "unchanged"]
    days += [date(year, 1, 1) for year in newly] + [date(year, 12, 31) for year in newly]
    return (min(days), max(days)) if days else None


def _recompute(
    session: Session, caller: Caller, result: LoadResult, span: tuple[date, date], now: datetime
) -> None:
    moved = message_deadlines.recompute_deadlines(session, caller, span=span, now=now)
    due_day = getattr(session.info.get("settings"), "report_due_day", 3)
    reports = report_deadlines.recompute_deadlines(session, caller, span=span, due_day=due_day)
    result.messages_recomputed, result.reports_recomputed = len(moved), len(reports)
    session.flush()
    aggregates.refresh(session)  # the moved messages' figures, in this same transaction


def _audit_entry(session: Session, caller: Caller, result: LoadResult) -> audit.AuditEntry:
    return audit.entry_for(
        caller, "calendar.load", object_type="calendar",
        request_id=session.info.get("request_id"),
        detail={
            "source": result.source, **result.counts, "years_covered": result.years_covered,
            "newly_covered": result.newly_covered, "revision": result.revision,
            "messages_recomputed": result.messages_recomputed,
            "reports_recomputed": result.reports_recomputed,
        },
    )  # fmt: skip


# -- showing ---------------------------------------------------------------------------
@dataclass(frozen=True)
class YearView:
    """A year's rest days and make-up working days, and whether the year is covered."""

    year: int
    covered: bool
    source: str | None
    covered_until: date | None
    days: list[CalendarDay]


def show_year(session: Session, *, year: int, today: date) -> YearView:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"year must be {FIRST_YEAR}–{LAST_YEAR}", field="year")
    covered = session.get(CalendarYear, year)
    days = list(repository.calendar_days_between(session, date(year, 1, 1), date(year, 12, 31)))
    until = workdays_store.calendar_of(session).covered_until(today)
    return YearView(year, covered is not None, covered.source if covered else None, until, days)

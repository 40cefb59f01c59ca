"""Working days: holidays and adjusted working days, weekends beyond the covered years."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import event

from exchange_hub.context import HubContext
from exchange_hub.holidays.package import package_calendar, package_years
from exchange_hub.workdays import (
    OFFICIAL,
    SHANGHAI,
    WEEKENDS_ONLY,
    WEEKENDS_ONLY_CALENDAR,
    WorkingCalendar,
    end_of_day_utc,
)
from exchange_hub.workdays_store import calendar_of
from tests.fixtures.hub import make_context
from tests.holidays.helpers import arrangement_until, load_fixture

PACKAGE = package_calendar()


def test_holidays_and_adjusted_working_days_come_from_the_calendar() -> None:
    assert PACKAGE.next_working_day(date(2026, 10, 1)) == date(2026, 10, 8)  # National Day week
    assert PACKAGE.is_working_day(date(2025, 9, 28))  # a Sunday made a working day (调休)


def test_years_not_yet_published_fall_back_to_weekends() -> None:
    year = max(package_years()) + 1
    saturday = next(date(year, 1, d) for d in range(1, 8) if date(year, 1, d).weekday() == 5)
    assert not PACKAGE.is_working_day(saturday)
    assert PACKAGE.next_working_day(saturday).weekday() == 0
    start = datetime.combine(saturday, datetime.min.time(), tzinfo=SHANGHAI)
    assert PACKAGE.deadline_after(start, 0)[1] == WEEKENDS_ONLY


def test_the_migrated_table_holds_the_package_arrangement(hub: HubContext) -> None:
    with hub.sessions() as session:
        loaded = calendar_of(session)
    assert loaded == PACKAGE
    assert loaded.covered_years == frozenset(package_years())


def test_basis_is_official_only_when_every_day_examined_is_covered() -> None:
    calendar = WorkingCalendar.of([date(2026, 12, 31)], [], [2026])
    # 30 Dec + 1 day = 31 Dec, a holiday here → Fri 1 Jan 2027, a year not covered
    deadline, basis = calendar.deadline_after(datetime(2026, 12, 30, 2, tzinfo=UTC), 1)
    assert (deadline, basis) == (end_of_day_utc(date(2027, 1, 1)), WEEKENDS_ONLY)
    deadline, basis = calendar.deadline_after(datetime(2026, 12, 29, 2, tzinfo=UTC), 1)
    assert (deadline, basis) == (end_of_day_utc(date(2026, 12, 30)), OFFICIAL)


def test_the_shanghai_date_counts_not_the_utc_date() -> None:
    # 2026-12-31 23:30 in Shanghai is 15:30 UTC the same day; 1 day later is 1 Jan 2027
    late = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)
    deadline, basis = PACKAGE.deadline_after(late, 1)
    assert deadline == end_of_day_utc(date(2027, 1, 1)) and basis == WEEKENDS_ONLY
    assert deadline.astimezone(SHANGHAI).time().isoformat() == "23:59:59.999999"


def test_covered_until_is_the_end_of_the_unbroken_run_from_today() -> None:
    calendar = WorkingCalendar.of([], [], [2025, 2026, 2027, 2029])
    assert calendar.covered_until(date(2026, 3, 1)) == date(2027, 12, 31)
    assert calendar.covered_until(date(2028, 3, 1)) == date(2027, 12, 31)  # already past
    assert calendar.covered_until(date(2029, 3, 1)) == date(2029, 12, 31)
    assert calendar.covered_until(date(2024, 3, 1)) is None
    assert WEEKENDS_ONLY_CALENDAR.covered_until(date(2026, 3, 1)) is None


def test_the_next_60_days_are_covered_only_inside_covered_years() -> None:
    calendar = WorkingCalendar.of([], [], [2026])
    assert calendar.covers_next(date(2026, 11, 1))  # to 31 Dec
    assert not calendar.covers_next(date(2026, 11, 2))  # 1 Jan 2027 is 60 days later
    assert not calendar.covers_next(date(2027, 6, 1))


def test_a_table_resting_for_ever_still_gives_a_finite_deadline() -> None:
    year = [date.fromordinal(date(2030, 1, 1).toordinal() + n) for n in range(800)]
    calendar = WorkingCalendar.of(year, [], [2030, 2031, 2032])
    deadline, basis = calendar.deadline_after(datetime(2030, 1, 1, tzinfo=UTC), 0)
    assert basis == WEEKENDS_ONLY and deadline < datetime(2031, 1, 10, tzinfo=UTC)


def test_each_node_caches_the_calendar_and_notices_a_load_elsewhere(
    hub: HubContext, database_url: str, tmp_path: Path
) -> None:
    arrangement_until(hub, 2026)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.startswith("SELECT"):  # not SQLite's BEGIN IMMEDIATE
            statements.append(statement)

    event.listen(hub.engine, "before_cursor_execute", count)
    with hub.sessions() as session:
        first = calendar_of(session)
        assert calendar_of(session) is first and len(statements) == 3  # revision, days, years
    with hub.sessions() as session:
        assert calendar_of(session) is first  # one tiny query: the revision, unchanged
    assert len(statements) == 4 and "calendar_revision" in statements[-1]
    other_node = make_context(database_url, tmp_path / "other")
    try:
        load_fixture(other_node)
    finally:
        other_node.dispose()
    with hub.sessions() as session:
        assert 2027 in calendar_of(session).covered_years
    assert 2027 not in first.covered_years

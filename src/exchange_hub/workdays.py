"""Working days (Asia/Shanghai): deadlines that fall on a rest day move to the next working day.

遇休息日顺延: a deadline on a rest day moves to the next working day. Rest
days are Saturdays and Sundays, plus the official holidays of the State
Council's yearly arrangement (国务院办公厅关于节假日安排的通知, published each
November for the next year), minus its make-up working days (调休补班, a
Saturday or Sunday worked in exchange for a holiday).

The arrangement lives in the table ``calendar_days``, which the operator owns
(``exchange-hub calendar load``; ``exchange_hub.holidays``). A
``WorkingCalendar`` is that table as a value: pure, so deadlines are computed
without the database, and built once per process and revision by
``workdays_store.calendar_of(session)``. For a year whose arrangement is not
loaded the weekends are the only rest days, and a deadline computed there
says so: its basis is ``weekends_only`` instead of ``official``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from exchange_hub.clock import SHANGHAI

__all__ = [
    "OFFICIAL",
    "SHANGHAI",
    "WEEKENDS_ONLY",
    "Basis",
    "WorkingCalendar",
    "end_of_day_utc",
    "local_date",
    "start_of_day_utc",
]

Basis = Literal["official", "weekends_only"]
OFFICIAL: Basis = "official"
WEEKENDS_ONLY: Basis = "weekends_only"
WARNING_DAYS = 60
"""The console and ``/readyz`` warn when the next this many days are not all covered."""
_LONGEST_REST = 366  # no arrangement rests longer; beyond it the weekend rule decides


def end_of_day_utc(day: date, zone: ZoneInfo = SHANGHAI) -> datetime:
    """The last instant of ``day`` in ``zone`` (23:59:59.999999), as a UTC datetime."""
    return datetime.combine(day, time.max, tzinfo=zone).astimezone(UTC)


def start_of_day_utc(day: date, zone: ZoneInfo = SHANGHAI) -> datetime:
    """The first instant of ``day`` in ``zone`` (00:00), as a UTC datetime."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def local_date(moment: datetime, zone: ZoneInfo = SHANGHAI) -> date:
    return moment.astimezone(zone).date()


def _is_weekday(day: date) -> bool:
    return day.weekday() < 5


@dataclass(frozen=True)
class WorkingCalendar:
    """Official rest days, make-up working days, and the years whose arrangement is known.

    A day listed in ``holidays`` is a rest day and one in ``workdays`` a
    working day, whatever its weekday; any other day follows the weekend
    rule. ``covered_years`` are the years whose arrangement was loaded: a
    deadline is ``official`` only when every day examined to find it lies in one.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    covered_years: frozenset[int] = frozenset()

    @classmethod
    def of(
        cls, holidays: Iterable[date], workdays: Iterable[date], covered_years: Iterable[int]
    ) -> WorkingCalendar:
        return cls(frozenset(holidays), frozenset(workdays), frozenset(covered_years))

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and _is_weekday(day)

    def is_covered(self, day: date) -> bool:
        return day.year in self.covered_years

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        return self._walk(day)[0]

    def deadline_after(
        self, start: datetime, days: int, zone: ZoneInfo = SHANGHAI
    ) -> tuple[datetime, Basis]:
        """``days`` calendar days after ``start`` (its local date), end of that day, moved
        off rest days; with the basis it rests on (``official`` when every day from
        that target day to the deadline lies in a covered year)."""
        target = start.astimezone(zone).date() + timedelta(days=days)
        day, covered = self._walk(target)
        return end_of_day_utc(day, zone), OFFICIAL if covered else WEEKENDS_ONLY

    def _walk(self, day: date) -> tuple[date, bool]:
        """The first working day from ``day`` on, and whether every day passed was covered."""
        covered = True
        for _ in range(_LONGEST_REST):
            covered = covered and self.is_covered(day)
            if self.is_working_day(day):
                return day, covered
            day += timedelta(days=1)
        while not _is_weekday(day):  # a table resting a whole year: keep deadlines finite
            day += timedelta(days=1)
        return day, False

    def covered_until(self, today: date) -> date | None:
        """31 Dec of the last year of the unbroken run of covered years holding ``today``;
        when ``today``'s year is not covered, of the latest covered year before it
        (a date already past). None when no year up to ``today``'s is covered."""
        year = today.year
        if year not in self.covered_years:
            earlier = [y for y in self.covered_years if y < year]
            return date(max(earlier), 12, 31) if earlier else None
        while year + 1 in self.covered_years:
            year += 1
        return date(year, 12, 31)

    def covers_next(self, today: date, days: int = WARNING_DAYS) -> bool:
        """Whether every day from ``today`` to ``days`` days later lies in a covered year."""
        last = today + timedelta(days=days)
        return all(year in self.covered_years for year in range(today.year, last.year + 1))


WEEKENDS_ONLY_CALENDAR = WorkingCalendar()
"""No arrangement loaded at all: every deadline rests on the weekend rule."""

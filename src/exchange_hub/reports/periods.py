"""Report months and their deadlines (Asia/Shanghai).

A department reports month ``M`` by the ``due_day`` (3rd) of month ``M+1``,
end of that day; a deadline on a rest day moves to the next working day
(遇休息日顺延, reference 001 §四(二)).
"""

from __future__ import annotations

import calendar as month_calendar
import re
from dataclasses import dataclass
from datetime import date, datetime

from exchange_hub.errors import InvalidInput
from exchange_hub.workdays import SHANGHAI, WorkingCalendar, end_of_day_utc

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_YEAR = re.compile(r"\d{4}")
FIRST_YEAR, LAST_YEAR = 2000, 2099


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, written ``YYYY-MM``."""

    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, month_calendar.monthrange(self.year, self.month)[1])

    def following(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def preceding(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return self.label


def parse_month(text: str, *, field: str = "period") -> Month:
    """``2026-10`` → Month(2026, 10); anything else is refused naming ``field``."""
    match = _MONTH.fullmatch((text or "").strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InvalidInput(f"{field} must be a month written YYYY-MM, not {text!r}", field=field)
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"{field} year must be {FIRST_YEAR}–{LAST_YEAR}", field=field)
    return Month(year, int(match.group(2)))


def parse_period(text: str, *, field: str = "period") -> list[Month]:
    """A month ``2026-10``, a quarter ``2026-Q4`` or a year ``2026``, as its months."""
    text = (text or "").strip()
    if quarter := _QUARTER.fullmatch(text):
        year, number = int(quarter.group(1)), int(quarter.group(2))
        first = parse_month(f"{year:04d}-{3 * number - 2:02d}", field=field)
        return [first, first.following(), first.following().following()]
    if _YEAR.fullmatch(text):
        first = parse_month(f"{text}-01", field=field)
        return [Month(first.year, month) for month in range(1, 13)]
    if not _MONTH.fullmatch(text):
        raise InvalidInput(
            f"{field} must be a month (2026-10), a quarter (2026-Q4) or a year (2026), "
            f"not {text!r}",
            field=field,
        )
    return [parse_month(text, field=field)]


def month_of(moment: datetime) -> Month:
    """The Asia/Shanghai month a moment falls in."""
    local = moment.astimezone(SHANGHAI)
    return Month(local.year, local.month)


def report_deadline(month: Month, calendar: WorkingCalendar, due_day: int = 3) -> datetime:
    """The last instant (UTC) at which the report for ``month`` is on time.

    Computed whenever it is needed, from the calendar as loaded then: a
    reminder follows a holiday arrangement loaded later on its own, and the
    deadlines stored on reports received before the load are recomputed by it
    (``reports.service.recompute_deadlines``).
    """
    return end_of_day_utc(calendar.next_working_day(due_date(month, due_day)))


def due_date(month: Month, due_day: int = 3) -> date:
    """The ``due_day`` of the month after ``month`` (its last day in a shorter month)."""
    following = month.following()
    return date(following.year, following.month, min(due_day, following.last_day.day))

"""Reporting months and periods (Asia/Shanghai), shared by metrics, reports, scorecard and web.

One grammar, the one the API's JSON Schema documents (``request_body.PERIOD``):
a month ``2026-10``, a quarter ``2026-Q4`` (or ``2026-q4``), a year ``2026`` or a
range of whole months ``2026-06/2026-11`` (ISO 8601's interval form, both ends
included, at most ``MAX_RANGE_MONTHS``), years 2000–2099. A refusal is an
``InvalidInput`` naming the caller's field.
"""

from __future__ import annotations

import calendar as month_calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time

from exchange_hub.errors import InvalidInput
from exchange_hub.workdays import SHANGHAI

FIRST_YEAR, LAST_YEAR = 2000, 2099
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_YEAR = re.compile(r"(\d{4})")
_RANGE = re.compile(r"(\d{4}-\d{2})/(\d{4}-\d{2})")
_GRAMMAR = (
    "a month (2026-10), a quarter (2026-Q4), a year (2026) or a range of months (2026-06/2026-11)"
)
MAX_RANGE_MONTHS = 36


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, written ``YYYY-MM``; its instants are Asia/Shanghai's."""

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

    @property
    def start(self) -> datetime:
        """Midnight of the first day, Asia/Shanghai (inclusive)."""
        return datetime.combine(self.first_day, time.min, tzinfo=SHANGHAI)

    @property
    def end(self) -> datetime:
        """Midnight of the following month's first day, Asia/Shanghai (exclusive)."""
        return self.following().start

    def following(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def preceding(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Period:
    """A reporting period (month, quarter, year or a range of months) as the months it
    spans, in order; ``kind`` says which."""

    label: str
    months: tuple[Month, ...]
    kind: str = "month"

    @property
    def labels(self) -> tuple[str, ...]:
        """The months' ``YYYY-MM`` labels, as stored in the database."""
        return tuple(month.label for month in self.months)

    @property
    def first(self) -> Month:
        return self.months[0]

    @property
    def last(self) -> Month:
        return self.months[-1]


def month_of(moment: datetime) -> Month:
    """The Asia/Shanghai month a moment falls in."""
    local = moment.astimezone(SHANGHAI)
    return Month(local.year, local.month)


def parse_month(text: str, *, field: str = "period") -> Month:
    """``2026-10`` → Month(2026, 10); anything else is refused naming ``field``."""
    text = (text or "").strip()
    found = _MONTH.fullmatch(text)
    if found is None or not 1 <= int(found[2]) <= 12:
        raise InvalidInput(f"{field} must be a month written YYYY-MM, not {text!r}", field=field)
    return Month(_year(found[1], field), int(found[2]))


def parse_period(text: str, *, field: str = "period") -> Period:
    """A month ``2026-10``, a quarter ``2026-Q4``/``2026-q4``, a year ``2026`` or a range
    ``2026-06/2026-11``."""
    text = (text or "").strip()
    if _MONTH.fullmatch(text):
        month = parse_month(text, field=field)
        return Period(month.label, (month,))
    if found := _QUARTER.fullmatch(text):
        year, quarter = _year(found[1], field), int(found[2])
        months = tuple(Month(year, m) for m in range(3 * quarter - 2, 3 * quarter + 1))
        return Period(f"{year:04d}-Q{quarter}", months, "quarter")
    if found := _YEAR.fullmatch(text):
        year = _year(found[1], field)
        return Period(f"{year:04d}", tuple(Month(year, m) for m in range(1, 13)), "year")
    if found := _RANGE.fullmatch(text):
        return month_range(parse_month(found[1], field=field), parse_month(found[2], field=field),
                           field=field)  # fmt: skip
    raise InvalidInput(f"{field} must be {_GRAMMAR}, not {text!r}", field=field)


def month_range(first: Month, last: Month, *, field: str = "period") -> Period:
    """The months from ``first`` to ``last``, both included (``2026-06/2026-11``)."""
    if last < first:
        raise InvalidInput(f"{field}: the range ends ({last}) before it starts ({first})",
                           field=field)  # fmt: skip
    months = [first]
    while months[-1] < last:
        months.append(months[-1].following())
        if len(months) > MAX_RANGE_MONTHS:
            raise InvalidInput(f"{field}: a range spans at most {MAX_RANGE_MONTHS} months",
                               field=field)  # fmt: skip
    return Period(f"{first}/{last}", tuple(months), "range")


def shifted(period: Period, months: int) -> Period | None:
    """The period of the same kind ``months`` months later (earlier when negative);
    None when it would leave the years the hub accepts."""
    first = period.first
    for _ in range(abs(months)):
        first = first.following() if months > 0 else first.preceding()
    if not FIRST_YEAR <= first.year <= LAST_YEAR:
        return None
    last = first
    for _ in period.months[1:]:
        last = last.following()
    if last.year > LAST_YEAR:
        return None
    if period.kind == "quarter":
        return parse_period(f"{first.year:04d}-Q{(first.month + 2) // 3}")
    if period.kind == "year":
        return parse_period(f"{first.year:04d}")
    if period.kind == "range":
        return month_range(first, last)
    return parse_period(first.label)


def _year(digits: str, field: str) -> int:
    year = int(digits)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"{field}: year {year} is outside {FIRST_YEAR}–{LAST_YEAR}", field=field)
    return year


def previous_period(period: Period) -> Period | None:
    """The period before ``period``, of the same kind and length (环比: last month,
    quarter, year, or the as many months before a range); None before 2000."""
    return shifted(period, -len(period.months))


def year_before(period: Period) -> Period | None:
    """The same period a year earlier (同比); None before 2000."""
    return shifted(period, -12)

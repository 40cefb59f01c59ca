"""Reporting periods (month ``2026-10``, quarter ``2026-Q4``, year ``2026``) and as-of times."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from exchange_hub.errors import InvalidInput
from exchange_hub.workdays import SHANGHAI

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_YEAR = re.compile(r"(\d{4})")
_FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Period:
    """A reporting period as the list of Asia/Shanghai months it spans."""

    label: str
    months: tuple[str, ...]

    @property
    def kind(self) -> str:
        return {1: "month", 3: "quarter", 12: "year"}[len(self.months)]


def parse_period(text: str, *, field: str = "period") -> Period:
    text = (text or "").strip()
    if found := _MONTH.fullmatch(text):
        year, month = int(found[1]), int(found[2])
        if not 1 <= month <= 12:
            raise InvalidInput(f"{text!r}: the month must be 01 to 12", field=field)
        return Period(text, (_month(year, month),))
    if found := _QUARTER.fullmatch(text):
        year, quarter = int(found[1]), int(found[2])
        months = tuple(_month(year, m) for m in range(3 * quarter - 2, 3 * quarter + 1))
        return Period(f"{year}-Q{quarter}", months)
    if found := _YEAR.fullmatch(text):
        year = int(found[1])
        return Period(text, tuple(_month(year, m) for m in range(1, 13)))
    raise InvalidInput(
        f"{text!r} is not a period: use a month 2026-10, a quarter 2026-Q4 or a year 2026",
        field=field,
    )


def _month(year: int, month: int) -> str:
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"year {year} is outside 2000–2100", field="period")
    return f"{year:04d}-{month:02d}"


def parse_as_of(text: str | None, now: datetime, *, field: str = "as_of") -> datetime:
    """The evaluation time: ISO date (end of that day in Asia/Shanghai) or date-time; default now.

    A date-time without a zone is read as Asia/Shanghai. A time in the future
    is refused: figures describe what has happened.
    """
    if text is None or not text.strip():
        return now
    text = text.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time.max, tzinfo=SHANGHAI)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"{text!r} is not an ISO date or date-time (2026-11-01 or 2026-11-01T08:00:00+08:00)",
            field=field,
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    moment = moment.astimezone(UTC)
    if moment > now + _FUTURE_TOLERANCE:
        raise InvalidInput(f"{text} lies in the future; figures need a past time", field=field)
    return min(moment, now)


def previous_period(period: Period) -> Period | None:
    """The period before ``period``, of the same kind (环比: last month, quarter or year);
    None before 2000, where no period exists."""
    first = period.months[0]
    year, month = int(first[:4]), int(first[5:])
    step = len(period.months)
    month -= step
    if month < 1:
        year, month = year - 1, month + 12
    if year < 2000:
        return None
    if period.kind == "month":
        return parse_period(f"{year:04d}-{month:02d}")
    if period.kind == "quarter":
        return parse_period(f"{year:04d}-Q{(month + 2) // 3}")
    return parse_period(f"{year:04d}")

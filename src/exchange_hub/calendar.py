"""Working days (Asia/Shanghai): deadlines that fall on a rest day move to the next working day.

Chinese official holidays and adjusted working days (调休) come from the
maintained ``chinese-calendar`` package; for years it does not cover yet,
weekends are the fallback.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar.constants import holidays as _published_holidays

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Years whose State Council holiday arrangement the installed package carries.
PUBLISHED_YEARS = frozenset(day.year for day in _published_holidays)


def is_working_day(day: date) -> bool:
    if day.year in PUBLISHED_YEARS:
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5  # arrangement not yet published: weekends are the rest days


def next_working_day(day: date) -> date:
    """``day`` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def end_of_day_utc(day: date, zone: ZoneInfo = SHANGHAI) -> datetime:
    """The last instant of ``day`` in ``zone`` (23:59:59.999999), as a UTC datetime."""
    return datetime.combine(day, time.max, tzinfo=zone).astimezone(UTC)


def deadline_after(start: datetime, days: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    """``days`` calendar days after ``start`` (local date), end of that day, moved off rest days."""
    local_day = start.astimezone(zone).date() + timedelta(days=days)
    return end_of_day_utc(next_working_day(local_day), zone)


def local_date(moment: datetime, zone: ZoneInfo = SHANGHAI) -> date:
    return moment.astimezone(zone).date()

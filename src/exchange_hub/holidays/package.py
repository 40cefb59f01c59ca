"""The arrangement the ``chinese-calendar`` package carries (years up to its release).

The migration that creates ``calendar_days`` fills it from here; after that the
hub reads only the table, and later years come from the operator.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from importlib.metadata import version

from chinese_calendar.constants import Holiday, holidays, workdays

from exchange_hub.workdays import WorkingCalendar


def package_source() -> str:
    """``chinese-calendar 1.11.0``: the ``source`` of the rows taken from the package."""
    return f"chinese-calendar {version('chinese-calendar')}"


def package_days() -> list[tuple[date, str, str]]:
    """(day, ``holiday`` | ``workday``, Chinese name of the holiday) for every listed day."""
    chinese = {holiday.value: holiday.chinese for holiday in Holiday}
    listed = [(day, "holiday", name) for day, name in holidays.items()]
    listed += [(day, "workday", name) for day, name in workdays.items()]
    return sorted((day, kind, chinese.get(name, name)) for day, kind, name in listed)


def package_years() -> list[int]:
    """The years whose arrangement the package publishes (it lists their holidays)."""
    return sorted({day.year for day in holidays})


@cache
def package_calendar() -> WorkingCalendar:
    """The package's arrangement as a calendar, as the migration loads it: for benches and
    tests that compute deadlines without a database. The hub itself reads the table."""
    return WorkingCalendar.of(holidays.keys(), workdays.keys(), package_years())

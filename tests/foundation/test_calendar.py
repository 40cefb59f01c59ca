"""Working days: holidays and adjusted working days, weekends beyond the published years."""

from __future__ import annotations

from datetime import date

from exchange_hub.calendar import PUBLISHED_YEARS, is_working_day, next_working_day


def test_holidays_and_adjusted_working_days_come_from_the_calendar() -> None:
    assert next_working_day(date(2026, 10, 1)) == date(2026, 10, 8)  # National Day week
    assert is_working_day(date(2025, 9, 28))  # a Sunday made a working day (调休)


def test_years_not_yet_published_fall_back_to_weekends() -> None:
    year = max(PUBLISHED_YEARS) + 1
    saturday = next(date(year, 1, d) for d in range(1, 8) if date(year, 1, d).weekday() == 5)
    assert not is_working_day(saturday)
    assert next_working_day(saturday).weekday() == 0

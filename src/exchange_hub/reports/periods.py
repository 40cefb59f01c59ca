"""Report deadlines (Asia/Shanghai); the month type is ``exchange_hub.periods.Month``.

A department reports month ``M`` by the ``due_day`` (3rd) of month ``M+1``,
end of that day; a deadline on a rest day moves to the next working day
(遇休息日顺延, reference 001 §四(二)).
"""

from __future__ import annotations

from datetime import date, datetime

from exchange_hub.periods import Month
from exchange_hub.workdays import WorkingCalendar, end_of_day_utc


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

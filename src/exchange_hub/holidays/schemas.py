"""The calendar API's contracts (``/api/v1/calendar``)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # the contracts load without the service (exchange_hub.client uses them)
    from exchange_hub.holidays.service import LoadResult, YearView

DayKind = Literal["holiday", "workday"]


class CalendarDayRead(BaseModel):
    date: date
    weekday: int = Field(description="ISO weekday: 1 = Monday … 7 = Sunday")
    kind: DayKind = Field(description="holiday: official rest day; workday: make-up working day")
    name: str = Field(description="the holiday it belongs to, e.g. 春节")
    source: str = Field(description="chinese-calendar 1.11.0, file:<name> or admin:<member>")


class CalendarYearRead(BaseModel):
    """A year's official rest days and make-up working days."""

    year: int
    covered: bool = Field(
        description="the year's arrangement is loaded; if false its deadlines rest on "
        "the weekends only (deadline_basis weekends_only)"
    )
    source: str | None = Field(description="where the year's arrangement was last loaded from")
    covered_until: date | None = Field(
        description="31 Dec of the last year of the unbroken run of covered years from today"
    )
    days: list[CalendarDayRead]


class CalendarDayChange(BaseModel):
    date: date
    kind: DayKind
    name: str
    outcome: Literal["added", "changed", "unchanged"]
    previous_kind: DayKind | None = None
    previous_name: str | None = None


class CalendarLoaded(BaseModel):
    """What a load changed, and the deadlines it recomputed."""

    source: str
    added: int
    changed: int
    unchanged: int
    days: list[CalendarDayChange]
    years_covered: list[int] = Field(description="years in which the file lists a holiday")
    newly_covered: list[int] = Field(description="of those, the years not covered before")
    covered_until: date | None
    messages_recomputed: int = Field(description="messages whose deadline or basis moved")
    reports_recomputed: int = Field(description="received reports whose deadline moved")


def year_read(view: YearView) -> CalendarYearRead:
    return CalendarYearRead(
        year=view.year, covered=view.covered, source=view.source,
        covered_until=view.covered_until,
        days=[
            CalendarDayRead(date=d.date, weekday=d.date.isoweekday(), kind=d.kind, name=d.name,
                            source=d.source)
            for d in view.days
        ],
    )  # fmt: skip


def loaded_read(result: LoadResult) -> CalendarLoaded:
    return CalendarLoaded(
        source=result.source, **result.counts,
        days=[
            CalendarDayChange(date=d.day, kind=d.kind, name=d.name, outcome=d.outcome,
                              previous_kind=d.previous_kind, previous_name=d.previous_name)
            for d in result.days
        ],
        years_covered=result.years_covered, newly_covered=result.newly_covered,
        covered_until=result.covered_until, messages_recomputed=result.messages_recomputed,
        reports_recomputed=result.reports_recomputed,
    )  # fmt: skip

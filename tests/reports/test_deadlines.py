"""Deadlines: the 3rd of the next month, moved off rest days (reference 001 §四(二)).

Timeliness is that of the first submission; corrections never change it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import InvalidInput
from exchange_hub.holidays.package import package_calendar
from exchange_hub.periods import Month, parse_month, parse_period
from exchange_hub.reports import repository
from exchange_hub.reports.periods import report_deadline
from tests.reports.conftest import shanghai, submit

PACKAGE = package_calendar()  # what the migration loads into calendar_days


def test_deadline_is_the_end_of_the_third_in_beijing_time() -> None:
    deadline = report_deadline(Month(2026, 10), PACKAGE)
    assert deadline == datetime(2026, 11, 3, 15, 59, 59, 999_999, tzinfo=UTC)
    assert deadline.astimezone(shanghai(2026, 1, 1).tzinfo).date().isoformat() == "2026-11-03"


def test_national_day_moves_the_deadline_after_the_holiday() -> None:
    # 2026-10-03 is a Saturday inside the National Day holiday (Oct 1–7); Oct 8 is a working day.
    assert report_deadline(Month(2026, 9), PACKAGE) == shanghai(2026, 10, 8, 23, 59, 59, 999_999)


def test_weekend_third_moves_to_monday() -> None:
    # 2025-08-03 is an ordinary Sunday.
    assert report_deadline(Month(2025, 7), PACKAGE) == shanghai(2025, 8, 4, 23, 59, 59, 999_999)


def test_weekend_third_followed_by_an_adjusted_working_sunday() -> None:
    # 2024-02-03 is a Saturday; Sunday 2024-02-04 is a working day (调休 for Spring Festival).
    assert report_deadline(Month(2024, 1), PACKAGE) == shanghai(2024, 2, 4, 23, 59, 59, 999_999)


def test_working_day_third_stays() -> None:
    assert report_deadline(Month(2026, 11), PACKAGE) == shanghai(2026, 12, 3, 23, 59, 59, 999_999)
    assert report_deadline(Month(2026, 12), PACKAGE) == shanghai(2027, 1, 4, 23, 59, 59, 999_999)


@pytest.mark.parametrize(
    ("at", "on_time"),
    [
        (shanghai(2026, 11, 3, 23, 59, 59), True),
        (shanghai(2026, 11, 3, 23, 59, 59, 999_999), True),
        (shanghai(2026, 11, 4, 0, 0, 0), False),
        (shanghai(2026, 11, 1, 9, 0, 0), True),
    ],
)
def test_submission_on_time_until_the_last_instant_of_the_third(
    hub: HubContext, at: datetime, on_time: bool
) -> None:
    report = submit(hub, region="110105", department="police", period="2026-10", at=at)
    assert report.on_time is on_time
    assert report.first_submitted_at == at


@pytest.mark.parametrize(
    ("at", "on_time"),
    [
        (shanghai(2026, 10, 4, 0, 0, 1), True),  # after the 3rd, but the 3rd was a holiday
        (shanghai(2026, 10, 8, 23, 59, 59), True),
        (shanghai(2026, 10, 9, 0, 0, 0), False),
    ],
)
def test_holiday_deadline_applies_to_submissions(
    hub: HubContext, at: datetime, on_time: bool
) -> None:
    report = submit(hub, region="110105", department="health", period="2026-09", at=at)
    assert report.on_time is on_time


def test_weekend_deadline_applies_to_submissions(hub: HubContext) -> None:
    monday = submit(
        hub, region="110105", department="police", period="2025-07", at=shanghai(2025, 8, 4, 20)
    )
    tuesday = submit(
        hub, region="110105", department="health", period="2025-07", at=shanghai(2025, 8, 5, 0)
    )
    assert monday.on_time is True
    assert tuesday.on_time is False


def test_correction_after_deadline_keeps_an_on_time_report_on_time(hub: HubContext) -> None:
    first = submit(
        hub, region="110105", department="police", period="2026-10",
        at=shanghai(2026, 11, 2, 10), counts={"moved_out": 3},
    )  # fmt: skip
    corrected = submit(
        hub, region="110105", department="police", period="2026-10",
        at=shanghai(2026, 11, 20, 10), counts={"moved_out": 4},
    )  # fmt: skip
    assert corrected.id == first.id
    assert (corrected.version, corrected.on_time, corrected.counts) == (2, True, {"moved_out": 4})
    assert corrected.first_submitted_at == shanghai(2026, 11, 2, 10)
    with transaction(hub.sessions) as session:
        versions = repository.versions_of(session, first.id)
        assert [(v.version, v.counts) for v in versions] == [
            (1, {"moved_out": 3}),
            (2, {"moved_out": 4}),
        ]


def test_correction_keeps_a_late_report_late(hub: HubContext) -> None:
    late = submit(
        hub, region="110105", department="police", period="2026-10", at=shanghai(2026, 11, 10)
    )
    corrected = submit(
        hub, region="110105", department="police", period="2026-10",
        at=shanghai(2026, 11, 11), counts={"moved_in": 1},
    )  # fmt: skip
    assert late.on_time is False
    assert (corrected.version, corrected.on_time, corrected.zero) == (2, False, False)
    assert corrected.deadline == late.deadline


def test_due_day_setting_moves_the_deadline() -> None:
    assert report_deadline(Month(2026, 10), PACKAGE, due_day=5) == shanghai(
        2026, 11, 5, 23, 59, 59, 999_999
    )
    # a due day past the end of a short month is the month's last day (then moved off rest days)
    assert report_deadline(Month(2026, 3), PACKAGE, due_day=31) == shanghai(
        2026, 4, 30, 23, 59, 59, 999_999
    )
    # Saturday 2026-02-28 is a working day (调休 after Spring Festival): the deadline stays.
    assert report_deadline(Month(2026, 1), PACKAGE, due_day=31) == shanghai(
        2026, 2, 28, 23, 59, 59, 999_999
    )


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026/10", "202610", "26-10", "", "2026-1", "1899-01"]
)
def test_malformed_months_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_month(text)
    assert caught.value.field == "period"


def test_periods_expand_to_months() -> None:
    assert list(parse_period("2026-Q4").labels) == ["2026-10", "2026-11", "2026-12"]
    assert len(parse_period("2026").months) == 12
    assert Month(2026, 12).following() == Month(2027, 1)
    assert Month(2026, 1).preceding() == Month(2025, 12)
    with pytest.raises(InvalidInput):
        parse_period("2026-Q5")


def test_report_for_the_current_month_is_accepted_but_not_the_next(hub: HubContext) -> None:
    now = shanghai(2026, 11, 1, 0, 30)  # still October in UTC, already November in Beijing
    assert now.astimezone(UTC).month == 10
    submit(hub, region="110105", department="police", period="2026-11", at=now)
    with pytest.raises(InvalidInput) as caught:
        submit(hub, region="110105", department="health", period="2026-12", at=now)
    assert caught.value.field == "period"
    assert "future" in caught.value.detail

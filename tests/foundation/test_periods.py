"""The one period type (issue 16): grammar, year range, month arithmetic, refusals."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from exchange_hub.errors import InvalidInput
from exchange_hub.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_RANGE_MONTHS,
    Month,
    month_of,
    parse_month,
    parse_period,
    previous_period,
    year_before,
)
from exchange_hub.request_body import PERIOD
from exchange_hub.workdays import SHANGHAI


@pytest.mark.parametrize(
    ("text", "label", "kind", "labels"),
    [
        ("2026-10", "2026-10", "month", ("2026-10",)),
        (" 2026-10 ", "2026-10", "month", ("2026-10",)),
        ("2026-Q4", "2026-Q4", "quarter", ("2026-10", "2026-11", "2026-12")),
        ("2026-q1", "2026-Q1", "quarter", ("2026-01", "2026-02", "2026-03")),
        ("2026", "2026", "year", tuple(f"2026-{m:02d}" for m in range(1, 13))),
        ("2026-06/2026-08", "2026-06/2026-08", "range", ("2026-06", "2026-07", "2026-08")),
        ("2026-12/2027-01", "2026-12/2027-01", "range", ("2026-12", "2027-01")),
        ("2026-11/2026-11", "2026-11/2026-11", "range", ("2026-11",)),
    ],
)
def test_the_grammar(text: str, label: str, kind: str, labels: tuple[str, ...]) -> None:
    period = parse_period(text)
    assert (period.label, period.kind, period.labels) == (label, kind, labels)
    assert all(isinstance(month, Month) for month in period.months)


@pytest.mark.parametrize(
    "text",
    ["2026-13", "2026-00", "2026-Q0", "2026-Q5", "2026Q4", "2026/10", "26-10", "2026-1", "",
     "1999", "1999-12", "1999-Q4", "2100", "2100-01", "2100-Q1", "abcd",
     "2026-06/", "/2026-06", "2026-06/2026", "2026-Q1/2026-Q2", "2026-06/2026-13",
     "2026-06..2026-08", "1999-12/2000-02", "2099-11/2100-01", "2026-06/2026-08/2026-09"],
)  # fmt: skip
def test_refusals_name_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_period(text, field="month_from")
    assert caught.value.field == "month_from"
    assert re.fullmatch(PERIOD, text.strip()) is None  # the API's pattern refuses it too


def test_the_year_range_is_the_schema_pattern_s() -> None:
    for year in (FIRST_YEAR, LAST_YEAR):
        for text in (f"{year}", f"{year}-01", f"{year}-12", f"{year}-Q1", f"{year}-q4"):
            assert parse_period(text).first.year == year
            assert re.fullmatch(PERIOD, text)
    assert (FIRST_YEAR, LAST_YEAR) == (2000, 2099)


def test_parse_month_takes_months_only() -> None:
    assert parse_month("2026-02") == Month(2026, 2)
    for text in ("2026", "2026-Q1", "2100-01", "1999-12"):
        with pytest.raises(InvalidInput) as caught:
            parse_month(text, field="period_month")
        assert caught.value.field == "period_month"


def test_month_arithmetic_across_year_ends() -> None:
    assert Month(2026, 12).following() == Month(2027, 1)
    assert Month(2027, 1).preceding() == Month(2026, 12)
    assert Month(2026, 6).following().preceding() == Month(2026, 6)
    assert Month(2028, 2).last_day == date(2028, 2, 29)
    assert Month(2027, 2).last_day == date(2027, 2, 28)
    assert Month(2026, 12).first_day == date(2026, 12, 1)
    assert str(Month(2026, 3)) == "2026-03"
    assert Month(2026, 12) < Month(2027, 1)


def test_start_and_end_are_shanghai_midnights() -> None:
    december = Month(2026, 12)
    assert december.start == datetime(2026, 12, 1, tzinfo=SHANGHAI)
    assert december.end == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert december.end.astimezone(UTC) == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert month_of(datetime(2026, 12, 31, 16, tzinfo=UTC)) == Month(2027, 1)
    assert month_of(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)) == Month(2026, 12)


def test_previous_period_keeps_the_kind() -> None:
    def before(text: str) -> str | None:
        found = previous_period(parse_period(text))
        return None if found is None else found.label

    assert before("2027-01") == "2026-12"
    assert before("2027-Q1") == "2026-Q4"
    assert before("2026-q3") == "2026-Q2"
    assert before("2027") == "2026"
    assert before("2000-01") is None
    assert before("2000-Q1") is None
    assert before("2000") is None


def test_a_range_runs_forwards_and_is_bounded() -> None:
    for text in ("2026-08/2026-06", "2027-01/2026-12"):
        with pytest.raises(InvalidInput, match="ends") as caught:
            parse_period(text, field="period")
        assert caught.value.field == "period"
        assert re.fullmatch(PERIOD, text)  # the form is right; the order is refused
    longest = parse_period("2024-01/2026-12")
    assert len(longest.months) == MAX_RANGE_MONTHS
    with pytest.raises(InvalidInput, match="at most"):
        parse_period("2023-12/2026-12")


def test_before_and_a_year_before_keep_kind_and_length() -> None:
    def labels(found: object) -> str | None:
        return None if found is None else found.label  # type: ignore[attr-defined]

    assert labels(previous_period(parse_period("2026-06/2026-08"))) == "2026-03/2026-05"
    assert labels(previous_period(parse_period("2027-01/2027-02"))) == "2026-11/2026-12"
    assert labels(year_before(parse_period("2026-06/2026-08"))) == "2025-06/2025-08"
    assert labels(year_before(parse_period("2026-11"))) == "2025-11"
    assert labels(year_before(parse_period("2026-Q4"))) == "2025-Q4"
    assert labels(year_before(parse_period("2026"))) == "2025"
    assert year_before(parse_period("2000-06")) is None
    assert previous_period(parse_period("2000-01/2000-03")) is None

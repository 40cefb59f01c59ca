"""Worked examples with the expected numbers computed by hand (SPEC §5, issue 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exchange_hub.clock import Clock
from exchange_hub.workdays import end_of_day_utc
from tests.metrics.factories import at

OCT = at("2026-10-05 09:00")
PAST_DEADLINE = at("2026-10-20 23:59:59.999999")
# The day these examples are worked out on: figures are read "now" unless as_of says otherwise.
EXAMPLES_DAY = at("2026-11-10 10:00")


@pytest.fixture(autouse=True)
def _examples_day(clock: Clock) -> None:
    clock.pin(EXAMPLES_DAY)


def queries(n: int, answered: int, *, to_region: str, **extra: object) -> list[dict]:
    """``n`` queries to ``to_region`` in October, the first ``answered`` answered on day 2."""
    return [
        dict(
            to_region=to_region,
            submitted_at=OCT,
            deadline=PAST_DEADLINE,
            answered_at=OCT + timedelta(days=2) if i < answered else None,
            **extra,
        )
        for i in range(n)
    ]


def test_roll_up_sums_numerators_and_denominators_never_averages(insert, exchange):
    # Shenzhen (4403): 900 of 1000 answered; Guangzhou (4401): 1 of 10.
    insert(*queries(1000, 900, to_region="440305"), *queries(10, 1, to_region="440106"))
    report = exchange(region="440000", period="2026-10", level="prefecture")
    rate = report.total.queries.feedback_rate
    assert (rate.numerator, rate.denominator) == (901, 1010)
    assert round(rate.rate * 100, 1) == 89.2  # not (90% + 10%) / 2 = 50%
    cities = {item.region: item.queries.feedback_rate for item in report.items}
    assert (cities["440300"].numerator, cities["440300"].denominator) == (900, 1000)
    assert (cities["440100"].numerator, cities["440100"].denominator) == (1, 10)
    assert report.total.queries.overdue == 109
    nation = exchange(region="000000", period="2026-10", level="province")
    guangdong = next(item for item in nation.items if item.region == "440000")
    assert guangdong.queries.feedback_rate == rate


def test_answered_one_second_before_and_after_the_deadline(insert, exchange):
    deadline = end_of_day_utc(at("2026-10-15 12:00").date())  # 23:59:59.999999 Shanghai
    insert(
        dict(submitted_at=OCT, deadline=deadline, answered_at=deadline - timedelta(seconds=1)),
        dict(submitted_at=OCT, deadline=deadline, answered_at=deadline + timedelta(seconds=1)),
        dict(submitted_at=OCT, deadline=deadline, answered_at=deadline),  # at it: on time
    )
    figures = exchange(region="440305", period="2026-10").total.queries
    assert (figures.answered, figures.answered_on_time, figures.due) == (3, 2, 3)
    assert figures.timely_rate.rate == pytest.approx(2 / 3)
    assert figures.feedback_rate.rate == 1.0


def test_unanswered_query_not_yet_due_is_not_counted(insert, exchange):
    deadline = at("2026-10-30 23:59:59.999999")
    insert(
        dict(submitted_at=OCT, deadline=deadline),  # unanswered, deadline after as_of
        dict(submitted_at=OCT, deadline=deadline, answered_at=OCT + timedelta(hours=3)),
    )
    before = exchange(region="440305", period="2026-10", as_of="2026-10-20").total.queries
    assert (before.routed, before.due, before.answered, before.overdue) == (2, 1, 1, 0)
    assert before.feedback_rate.rate == 1.0
    # One microsecond after the deadline it is held against the county.
    after = exchange(
        region="440305", period="2026-10", as_of="2026-10-31T00:00:00+08:00"
    ).total.queries
    assert (after.due, after.overdue) == (2, 1)
    assert after.feedback_rate.rate == 0.5


def test_as_of_before_an_answer_does_not_see_it(insert, exchange):
    insert(
        dict(
            submitted_at=OCT,
            deadline=at("2026-10-08 23:59:59.999999"),
            answered_at=at("2026-10-12 10:00"),
            feedback_result="not_found",
        )
    )
    then = exchange(region="440305", period="2026-10", as_of="2026-10-10").total.queries
    assert (then.routed, then.due, then.answered, then.not_found) == (1, 1, 0, 0)
    assert then.not_found_rate.rate is None
    now = exchange(region="440305", period="2026-10").total.queries
    assert (now.due, now.answered, now.not_found, now.answered_on_time) == (1, 1, 1, 0)
    assert now.not_found_rate.rate == 1.0
    early = exchange(region="440305", period="2026-10", as_of="2026-10-01").total.queries
    assert early.routed == 0  # not yet submitted


def test_zero_denominators_give_null_not_zero(insert, exchange):
    insert(dict(submitted_at=OCT, deadline=at("2026-11-30 23:59:59.999999")))
    report = exchange(region="440305", period="2026-10", as_of="2026-11-01")
    queries_ = report.total.queries
    assert queries_.routed == 1
    assert queries_.feedback_rate.model_dump() == {"numerator": 0, "denominator": 0, "rate": None}
    assert queries_.not_found_rate.rate is None
    assert queries_.timely_rate.rate is None
    assert report.total.notifications.receipt_rate.rate is None
    idle = exchange(region="110000", period="2026-10").total.queries
    assert idle.routed == 0 and idle.feedback_rate.rate is None


def test_withdrawn_messages_are_excluded(insert, exchange, latency):
    insert(
        dict(submitted_at=OCT, deadline=PAST_DEADLINE, withdrawn_at=OCT + timedelta(hours=1)),
        dict(
            submitted_at=OCT,
            deadline=PAST_DEADLINE,
            delivered_at=OCT + timedelta(seconds=5),
            withdrawn_at=OCT + timedelta(hours=1),
        ),
        dict(submitted_at=OCT, deadline=PAST_DEADLINE, answered_at=OCT + timedelta(hours=1)),
    )
    figures = exchange(region="440305", period="2026-10").total.queries
    assert (figures.routed, figures.due, figures.answered) == (1, 1, 1)
    legs = latency(region="440305", period="2026-10").total.queries
    assert next(leg for leg in legs if leg.leg == "delivered").count == 0


def test_receipt_rate_of_notifications(insert, exchange):
    insert(
        dict(
            kind="notification",
            subtype="other",
            submitted_at=OCT,
            deadline=PAST_DEADLINE,
            received_at=OCT + timedelta(days=1),
        ),
        dict(kind="notification", subtype="other", submitted_at=OCT, deadline=PAST_DEADLINE),
        dict(
            kind="notification",
            subtype="other",
            submitted_at=OCT,
            deadline=at("2026-12-01 23:59:59.999999"),
        ),  # not due yet
    )
    note = exchange(region="440305", period="2026-10").total.notifications
    assert (note.routed, note.due, note.received, note.overdue) == (3, 2, 1, 1)
    assert note.receipt_rate.rate == 0.5


def test_both_roles_and_not_found_by_requesting_region(insert, exchange):
    insert(
        *queries(4, 4, to_region="440305", from_region="110105", feedback_result="not_found"),
        *queries(4, 4, to_region="440305", from_region="411324"),
    )
    sent = exchange(region="000000", period="2026-10", level="county", role="requester")
    by_sender = {item.region: item.queries.not_found_rate for item in sent.items}
    assert by_sender["110105"].rate == 1.0
    assert by_sender["411324"].rate == 0.0
    received = exchange(region="440305", period="2026-10")
    assert received.total.queries.not_found_rate.rate == 0.5
    cells = {(c.region, c.counterpart): c.queries for c in received.matrix}
    assert cells[("440305", "110000")].not_found == 4
    assert cells[("440305", "410000")].routed == 4
    own = exchange(region="110105", period="2026-10", role="requester").total.queries
    assert (own.routed, own.answered, own.not_found) == (4, 4, 4)


def test_quarter_and_year_periods_add_months(insert, exchange):
    insert(
        dict(submitted_at=at("2026-10-31 23:30"), answered_at=at("2026-11-02 10:00")),
        dict(submitted_at=at("2026-11-01 00:30"), answered_at=at("2026-11-02 10:00")),
        dict(submitted_at=at("2026-09-30 23:59"), answered_at=at("2026-11-02 10:00")),
    )
    assert exchange(region="440305", period="2026-10").total.queries.routed == 1
    assert exchange(region="440305", period="2026-11").total.queries.routed == 1
    assert exchange(region="440305", period="2026-Q4").total.queries.routed == 2
    assert exchange(region="440305", period="2026").total.queries.routed == 3
    assert exchange(region="440305", period="2026-09/2026-10").total.queries.routed == 2
    assert exchange(region="440305", period="2026-09/2026-11").total.queries.routed == 3


def test_percentiles_on_a_known_distribution(insert, latency):
    # Answers 1, 2, …, 60 seconds after submission: nearest rank gives 30, 54 and 60.
    insert(
        *[
            dict(submitted_at=OCT, answered_at=OCT + timedelta(seconds=s, microseconds=999))
            for s in range(1, 61)
        ]
    )
    answered = next(
        leg for leg in latency(region="44", period="2026-10").total.queries if leg.leg == "answered"
    )
    assert answered.count == 60
    assert (answered.median_seconds, answered.p90_seconds, answered.p99_seconds) == (30, 54, 60)


def test_long_latency_percentiles_stay_within_the_documented_bound(insert, latency):
    hours = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]  # answered after so many hours
    insert(*[dict(submitted_at=OCT, answered_at=OCT + timedelta(hours=h)) for h in hours])
    report = latency(region="44", period="2026-10")
    answered = next(leg for leg in report.total.queries if leg.leg == "answered")
    exact_median, exact_p90 = 8 * 3600, 55 * 3600  # ranks 5 and 9 of 10
    assert abs(answered.median_seconds - exact_median) <= exact_median * report.relative_error
    assert abs(answered.p90_seconds - exact_p90) <= exact_p90 * report.relative_error
    assert answered.p99_seconds == pytest.approx(89 * 3600, rel=report.relative_error)

"""The demo traffic gives a newcomer non-trivial figures at once, and is seeded only once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from exchange_hub import clock as hub_clock
from exchange_hub.clock import SHANGHAI, Clock
from exchange_hub.db import transaction
from exchange_hub.demo import demo_periods
from exchange_hub.metrics.demo_traffic import seed_demo_traffic
from exchange_hub.periods import month_of


def test_demo_traffic_fills_the_bulletin(hub, exchange):
    with transaction(hub.sessions) as session:
        added = seed_demo_traffic(session, hub.keyring)
    with transaction(hub.sessions) as session:
        assert seed_demo_traffic(session, hub.keyring) == 0
    assert added > 1_000
    local = hub_clock.now()
    period = f"{local.year}" if local.month > 1 else f"{local.year - 1}"
    origins = exchange(region="410000", period=period, level="county")
    answered = origins.total.queries.feedback_rate
    assert answered.denominator > 0 and 0.5 < answered.rate < 1
    counties = {i.region: i.queries for i in origins.items if i.queries.routed}
    assert {"411324", "410102"} <= set(counties)
    senders = exchange(region="440000", period=period, role="requester")
    assert senders.total.queries.routed > 0


SHANGHAI_MOMENTS = {
    "spring festival 2027": datetime(2027, 2, 8, 10, 0, tzinfo=SHANGHAI),
    "year end 2027": datetime(2027, 12, 31, 23, 30, tzinfo=SHANGHAI),
    "31st of March 2027": datetime(2027, 3, 31, 23, 30, tzinfo=SHANGHAI),
}


@pytest.fixture(params=["today", "in 400 days", *SHANGHAI_MOMENTS])
def demo_day(request: pytest.FixtureRequest, clock: Clock) -> datetime:
    """The day the demo is made and read: today, 400 days on, and the CI's other dates."""
    if request.param == "in 400 days":
        clock.pin(hub_clock.now() + timedelta(days=400))
    elif request.param in SHANGHAI_MOMENTS:
        clock.pin(SHANGHAI_MOMENTS[request.param])
    return hub_clock.now()


def test_demo_figures_are_real_for_an_origin_and_a_destination_province_on_any_day(
    hub, exchange, demo_day: datetime
) -> None:
    with transaction(hub.sessions) as session:
        seed_demo_traffic(session, hub.keyring)
    first, period = demo_periods()
    assert period == month_of(demo_day).preceding().label
    assert first < period
    for province in ("440000", "410000"):  # Guangdong (mainly asks), Henan (mainly answers)
        answering = exchange(region=province, period=period).total.queries
        assert answering.routed > 0 and answering.feedback_rate.denominator > 0, province
        assert 0 < answering.feedback_rate.rate <= 1
    asking = exchange(region="440000", period=period, role="requester").total.queries
    assert asking.routed > 0 and asking.feedback_rate.denominator > 0

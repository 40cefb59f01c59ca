"""The demo traffic gives a newcomer non-trivial figures at once, and is seeded only once."""

from __future__ import annotations

from exchange_hub import clock as hub_clock
from exchange_hub.db import transaction
from exchange_hub.metrics.demo_traffic import seed_demo_traffic


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

"""Demo reports: realistic figures, and safe to seed twice."""

from __future__ import annotations

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.reports import service
from exchange_hub.reports.demo import seed_demo_reports
from tests.reports.conftest import shanghai


def test_demo_reports_give_non_trivial_figures(hub: HubContext) -> None:
    now = shanghai(2026, 11, 23, 12)
    with transaction(hub.sessions) as session:
        first = seed_demo_reports(session, counties=["440305", "440106"], months=3, now=now)
    with transaction(hub.sessions) as session:
        again = seed_demo_reports(session, counties=["440305", "440106"], months=3, now=now)
    assert first.pairs_activated == 16 and first.reports_submitted > 30
    assert again == type(again)(0, 0)
    with hub.sessions() as session:
        rows = service.report_rates(
            session, region="440000", period="2026-Q3", level="province", as_of=now
        )
    total = rows[0]
    # August and September of Q3 are expected (pairs active since 2026-08-01): 2 x 8 x 2
    assert total.expected == 32
    assert 0 < total.on_time < total.received <= total.expected
    assert total.zero > 0

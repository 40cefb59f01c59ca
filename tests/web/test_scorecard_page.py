"""The two-way assessment page: indicators against targets, unmet ones highlighted, items behind."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.web.pages.common import last_month
from tests.web import factories
from tests.web.helpers import sign_in


def test_scorecard_marks_unmet_indicators_and_lists_the_items_behind(
    client: TestClient, hub: HubContext, gd_admin: str, console_day: datetime
) -> None:
    at = factories.last_month_moment()
    answered = factories.send_query(hub, to="440305", at=at, seq="401")
    factories.answer_query(hub, answered, by="440305", at=at + timedelta(days=40))  # late
    sign_in(client, gd_admin)
    page = client.get("/console/scorecard")
    assert page.status_code == 200
    assert "双向考核" in page.text
    indicators = page.text.split('id="indicators"')[1].split("</table>")[0]
    assert 'class="worst"' in indicators and "未达标" in indicators
    county = client.get("/console/scorecard?region=440305")
    assert county.status_code == 200
    link = "/console/scorecard/items?region=440305"
    assert link in county.text
    items = client.get(
        f"/console/scorecard/items?region=440305&indicator=query_feedback_rate&part=denominator"
        f"&period={last_month()}"
    )
    assert items.status_code == 200
    assert str(answered) in items.text


def test_scorecard_scope_and_bad_input(client: TestClient, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    assert client.get("/console/scorecard?region=110000").status_code == 403
    assert client.get("/console/scorecard?period=2026-13").status_code == 422
    bad_part = client.get(
        "/console/scorecard/items?region=440305&indicator=query_feedback_rate&part=x"
    )
    assert bad_part.status_code == 422 and "part" in bad_part.text
    province = client.get("/console/scorecard/items?region=440000&indicator=query_feedback_rate")
    assert province.status_code == 422
    assert client.get("/console/scorecard/items?region=110105&indicator=x").status_code == 403


def test_a_clerk_has_no_scorecard(client: TestClient, nanshan_clerk: str) -> None:
    sign_in(client, nanshan_clerk)
    assert client.get("/console/scorecard").status_code == 403

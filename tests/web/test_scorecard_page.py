"""The two-way assessment page: indicators against targets, unmet ones highlighted, items behind."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.helpers import sign_in


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

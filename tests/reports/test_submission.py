"""POST /api/v1/reports: the published contract, scope refusals and bad input (SPEC §6, §8)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange_hub.clock import CLOCK
from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent, DepartmentReportVersion
from exchange_hub.periods import month_of
from tests.fixtures.hub import MemberKey, make_member

URL = "/api/v1/reports"


def police_report(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "department": "police",
        "region": "110105",
        "period": "2026-10",
        "counts": {"temporary_residence_registrations": 120, "moved_out": 7},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def test_police_reporter_submits_and_corrects(client: TestClient, police_a: MemberKey) -> None:
    first = client.post(URL, json=police_report(), headers=police_a.headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["version"] == 1 and body["zero"] is False
    assert body["counts"] == {"temporary_residence_registrations": 120, "moved_out": 7}
    again = client.post(URL, json=police_report(counts={"moved_out": 8}), headers=police_a.headers)
    assert again.status_code == 201
    assert again.json()["id"] == body["id"] and again.json()["version"] == 2
    assert again.json()["first_submitted_at"] == body["first_submitted_at"]
    detail = client.get(f"{URL}/{body['id']}", headers=police_a.headers).json()
    assert [v["counts"] for v in detail["versions"]] == [
        {"temporary_residence_registrations": 120, "moved_out": 7},
        {"moved_out": 8},
    ]


def test_zero_report(client: TestClient, police_a: MemberKey) -> None:
    response = client.post(URL, json=police_report(counts=..., zero=True), headers=police_a.headers)
    assert response.status_code == 201, response.text
    assert response.json()["zero"] is True and response.json()["counts"] == {}


def test_submission_is_audited(client: TestClient, hub: HubContext, police_a: MemberKey) -> None:
    client.post(URL, json=police_report(), headers=police_a.headers)
    client.post(URL, json=police_report(zero=True, counts=...), headers=police_a.headers)
    with hub.sessions() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_type == "department_report")
        ).all()
    assert sorted(actions) == ["report.correct", "report.submit"]


def test_idempotency_key_replays_instead_of_adding_a_version(
    client: TestClient, hub: HubContext, police_a: MemberKey
) -> None:
    headers = {**police_a.headers, "Idempotency-Key": "police-110105-2026-10"}
    first = client.post(URL, json=police_report(), headers=headers)
    second = client.post(URL, json=police_report(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DepartmentReportVersion)) == 1
    other = client.post(URL, json=police_report(zero=True, counts=...), headers=headers)
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"department": "health"}, "department"),
        ({"region": "440305"}, "region"),
        ({"region": "110108"}, "region"),
    ],
)
def test_reporter_acts_only_for_its_department_and_county(
    client: TestClient, hub: HubContext, police_a: MemberKey, changes: dict[str, Any], field: str
) -> None:
    if changes.get("department") == "health":
        changes["counts"] = {"births_in_hospital": 1}
    response = client.post(URL, json=police_report(**changes), headers=police_a.headers)
    assert response.status_code == 403, response.text
    assert response.json()["field"] == field
    with hub.sessions() as session:
        refused = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "scope.refused")
        ).all()
    assert len(refused) == 1 and refused[0].detail["path"] == URL


def test_county_systems_and_admins_do_not_submit(
    client: TestClient, county_a: MemberKey, admin_nation: MemberKey
) -> None:
    for member in (county_a, admin_nation):
        response = client.post(URL, json=police_report(), headers=member.headers)
        assert response.status_code == 403


def test_unauthenticated_is_401(client: TestClient) -> None:
    assert client.post(URL, json=police_report()).status_code == 401


def _next_month() -> str:
    month = month_of(CLOCK.now()).following()
    return month.label


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (police_report(counts={"moved_out": -1}), "counts.moved_out"),
        (police_report(counts={"moved_out": "5"}), "counts.moved_out"),
        (police_report(counts={"moved_out": 2.5}), "counts.moved_out"),
        (police_report(counts={"moved_out": True}), "counts.moved_out"),
        (police_report(counts={"moved_out": None}), "counts.moved_out"),
        (police_report(counts={"moved_out": 10**12}), "counts.moved_out"),
        (police_report(counts={"births_in_hospital": 3}), "counts.births_in_hospital"),
        (police_report(counts={"no_such_item": 3}), "counts.no_such_item"),
        (police_report(counts=[1, 2]), "counts"),
        (police_report(counts={}), "counts"),
        (police_report(counts=...), "counts"),
        (police_report(counts=..., zero=False), "counts"),
        (police_report(zero=True), "zero"),
        (police_report(counts=..., zero="yes"), "zero"),
        (police_report(period="2026-13"), "period"),
        (police_report(period="2026/10"), "period"),
        (police_report(period="202610"), "period"),
        (police_report(period=10), "period"),
        (police_report(period="1999-12"), "period"),
        (police_report(region="abc"), "region"),
        (police_report(region=...), "region"),
        (police_report(department=...), "department"),
        (police_report(note="extra"), "note"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    client: TestClient, police_a: MemberKey, body: dict[str, Any], field: str
) -> None:
    response = client.post(URL, json=body, headers=police_a.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


def test_future_month_is_refused(client: TestClient, police_a: MemberKey) -> None:
    response = client.post(URL, json=police_report(period=_next_month()), headers=police_a.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "period"
    assert "future" in response.json()["detail"]


def test_malformed_json_is_a_problem(client: TestClient, police_a: MemberKey) -> None:
    response = client.post(
        URL,
        content=b'{"department": "police",',
        headers={**police_a.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["field"] == "body"


def test_reading_reports_within_scope(
    client: TestClient, hub: HubContext, police_a: MemberKey, county_a: MemberKey,
    county_b: MemberKey, admin_gd: MemberKey,
) -> None:  # fmt: skip
    report = client.post(URL, json=police_report(), headers=police_a.headers).json()
    own = client.get(
        URL, params={"region": "110105", "period": "2026-10"}, headers=county_a.headers
    )
    assert own.status_code == 200
    assert [item["id"] for item in own.json()["items"]] == [report["id"]]
    admin_bj = make_member(hub, role="admin", region="110000")
    province = client.get(
        URL, params={"region": "11", "period": "2026-Q4"}, headers=admin_bj.headers
    )
    assert [item["id"] for item in province.json()["items"]] == [report["id"]]
    other = client.get(
        URL, params={"region": "110105", "period": "2026-10"}, headers=county_b.headers
    )
    assert other.status_code == 403
    outside = client.get(
        URL, params={"region": "11", "period": "2026-10"}, headers=admin_gd.headers
    )
    assert outside.status_code == 403
    assert client.get(f"{URL}/{report['id']}", headers=county_b.headers).status_code == 404
    assert client.get(f"{URL}/{report['id']}", headers=county_a.headers).status_code == 200
    bad = client.get(URL, params={"region": "110105", "period": "x"}, headers=county_a.headers)
    assert bad.status_code == 422 and bad.json()["field"] == "period"


def test_listing_pages_with_a_cursor(
    client: TestClient, hub: HubContext, police_a: MemberKey, health_a: MemberKey
) -> None:
    client.post(URL, json=police_report(), headers=police_a.headers)
    client.post(
        URL,
        json={"department": "health", "region": "110105", "period": "2026-10", "zero": True},
        headers=health_a.headers,
    )
    params: dict[str, Any] = {"region": "110105", "period": "2026-10", "limit": 1}
    first = client.get(URL, params=params, headers=police_a.headers).json()
    second = client.get(
        URL, params={**params, "cursor": first["next_cursor"]}, headers=police_a.headers
    ).json()
    assert [i["department"] for i in first["items"] + second["items"]] == ["health", "police"]
    assert second["next_cursor"] is None
    broken = client.get(URL, params={**params, "cursor": "nonsense"}, headers=police_a.headers)
    assert broken.status_code == 422 and broken.json()["field"] == "cursor"


def test_catalogue_lists_the_items(client: TestClient, police_a: MemberKey) -> None:
    response = client.get(f"{URL}/catalogue", headers=police_a.headers)
    police = next(t for t in response.json()["items"] if t["department"] == "police")
    keys = [item["key"] for item in police["items"]]
    assert "temporary_residence_registrations" in keys and "moved_out" in keys

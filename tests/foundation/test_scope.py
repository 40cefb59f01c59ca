"""Scope (SPEC §6): outside one's region → 403, audited; others' objects → 404."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent
from exchange_hub.scope import region_in_scope
from tests.fixtures.hub import MemberKey, make_member

ADMIN_ONLY = [
    ("GET", "/api/v1/members"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
]


def test_region_scope_arithmetic() -> None:
    assert region_in_scope("000000", "440305")
    assert region_in_scope("440000", "440305")
    assert not region_in_scope("440000", "110105")
    assert region_in_scope("440300", "440305")
    assert not region_in_scope("440300", "440106")
    assert region_in_scope("110105", "110105")
    assert not region_in_scope("110105", "110106")


def test_county_member_refused_on_admin_routes(client: TestClient, county_a: MemberKey) -> None:
    for method, path in ADMIN_ONLY:
        response = client.request(method, path, headers=county_a.headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["type"].endswith("/forbidden")


def test_province_admin_refused_on_another_province(
    client: TestClient, admin_gd: MemberKey
) -> None:
    response = client.post(
        "/api/v1/members",
        json={"role": "county", "region": "110105"},
        headers=admin_gd.headers,
    )
    assert response.status_code == 403
    assert response.json()["field"] == "region"
    inside = client.post(
        "/api/v1/members", json={"role": "county", "region": "440305"}, headers=admin_gd.headers
    )
    assert inside.status_code == 201
    assert inside.json()["api_key"].startswith("hub_")


def test_province_admin_sees_only_members_inside(
    client: TestClient,
    hub: HubContext,
    admin_gd: MemberKey,
    county_a: MemberKey,
    county_b: MemberKey,
) -> None:
    listed = client.get("/api/v1/members", headers=admin_gd.headers).json()["items"]
    regions = {m["region"] for m in listed}
    assert "440305" in regions and "110105" not in regions
    # A member outside the scope is indistinguishable from a missing one.
    outside = client.post(f"/api/v1/members/{county_a.id}/revoke", headers=admin_gd.headers)
    missing = client.post(
        "/api/v1/members/00000000-0000-0000-0000-000000000000/revoke", headers=admin_gd.headers
    )
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["detail"].replace(county_a.id, "X") == missing.json()["detail"].replace(
        "00000000-0000-0000-0000-000000000000", "X"
    )


def test_refusals_are_audited(client: TestClient, hub: HubContext, county_a: MemberKey) -> None:
    client.get("/api/v1/members", headers=county_a.headers)
    client.get("/api/v1/members", headers={"Authorization": "Bearer hub_x_y"})
    with hub.sessions() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    actions = [(r.action, r.outcome) for r in rows]
    assert ("scope.refused", "refused") in actions
    assert ("auth.refused", "refused") in actions
    scope_row = next(r for r in rows if r.action == "scope.refused")
    assert scope_row.region == "110105" and scope_row.member_id is not None
    assert scope_row.detail["path"] == "/api/v1/members"


def test_department_and_admin_roles_are_validated(
    client: TestClient, hub: HubContext, admin_nation: MemberKey
) -> None:
    bad = [
        ({"role": "king", "region": "110105"}, "role"),
        ({"role": "department", "region": "110105", "department": "astrology"}, "department"),
        ({"role": "county", "region": "110000"}, "region"),
        ({"role": "county", "region": "110103"}, "region"),  # 崇文区, abolished 2010
        ({"role": "county", "region": "11x105"}, "region"),
    ]
    for body, field in bad:
        response = client.post("/api/v1/members", json=body, headers=admin_nation.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field
    police = make_member(hub, role="department", region="110105", department="police")
    assert police.department == "police"

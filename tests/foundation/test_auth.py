"""Every route but the health checks needs a valid key (issue 2)."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from exchange_hub.app import create_app
from exchange_hub.context import HubContext
from tests.fixtures.hub import MemberKey, make_member

PUBLIC = {"/healthz", "/readyz"}
SAMPLE_PARAMS = {"code": "110105", "parent": "110000"}


def _concrete(path: str) -> str:
    return re.sub(
        r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_PARAMS.get(m.group(1), str(uuid.uuid4())), path
    )


def protected_routes() -> list[tuple[str, str]]:
    """Every operation of the app's own route table (as published in its OpenAPI document)."""
    paths = create_app().openapi()["paths"]
    return [
        (method.upper(), _concrete(path))
        for path, operations in sorted(paths.items())
        if path not in PUBLIC
        for method in operations
    ]


ROUTES = protected_routes()


def test_the_sweep_sees_the_routes() -> None:
    assert ("GET", "/api/v1/regions/110105") in ROUTES
    assert len(ROUTES) >= 6


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_key_malformed_key_and_revoked_key_get_401(
    method: str, path: str, client: TestClient, hub: HubContext
) -> None:
    revoked = make_member(hub, role="admin", region="000000")
    client.post(f"/api/v1/members/{revoked.id}/revoke", headers=_admin(hub).headers)
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer hub_nothing"},
        {"Authorization": "Bearer hub_0000000000000000_forged"},
        revoked.headers,
    ):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path, headers, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["status"] == 401 and problem["field"] == "Authorization"


def _admin(hub: HubContext) -> MemberKey:
    return make_member(hub, role="admin", region="000000")


def test_health_checks_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migration"] == ready.json()["head"]


def test_a_valid_key_is_accepted_and_rotation_retires_the_old_one(
    client: TestClient, hub: HubContext, county_a: MemberKey, admin_nation: MemberKey
) -> None:
    assert client.get("/api/v1/members/me", headers=county_a.headers).json()["region"] == "110105"
    rotated = client.post(f"/api/v1/members/{county_a.id}/rotate-key", headers=admin_nation.headers)
    assert rotated.status_code == 200
    new_key = rotated.json()["api_key"]
    assert client.get("/api/v1/members/me", headers=county_a.headers).status_code == 401
    fresh = {"Authorization": f"Bearer {new_key}"}
    assert client.get("/api/v1/members/me", headers=fresh).status_code == 200


def test_api_keys_are_stored_only_as_hashes(hub: HubContext, county_a: MemberKey) -> None:
    from sqlalchemy import text

    secret = county_a.api_key.split("_", 2)[2]
    with hub.engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.execute(text("SELECT * FROM members")))
    assert secret not in dump
    assert "sha256." in dump

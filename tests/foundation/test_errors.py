"""Bad input gets RFC 9457 problem documents, never a 500 (SPEC §8)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from tests.fixtures.hub import MemberKey


def _is_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


def test_malformed_json(client: TestClient, admin_nation: MemberKey) -> None:
    headers = {**admin_nation.headers, "content-type": "application/json"}
    body = _is_problem(client.post("/api/v1/members", content=b"{not json", headers=headers), 422)
    assert body["field"] == "body"


def test_wrong_types_name_the_field(client: TestClient, admin_nation: MemberKey) -> None:
    response = client.post(
        "/api/v1/members", json={"role": 5, "region": ["x"]}, headers=admin_nation.headers
    )
    body = _is_problem(response, 422)
    assert body["field"] in {"role", "region"}
    assert {e["field"] for e in body["errors"]} == {"role", "region"}


def test_oversize_body_is_413(client: TestClient, admin_nation: MemberKey, hub: HubContext) -> None:
    big = b'{"name": "' + b"x" * (hub.settings.max_body_bytes + 10) + b'"}'
    headers = {**admin_nation.headers, "content-type": "application/json"}
    _is_problem(client.post("/api/v1/members", content=big, headers=headers), 413)


def test_unknown_route_and_method(client: TestClient, county_a: MemberKey) -> None:
    _is_problem(client.get("/api/v1/nothing-here", headers=county_a.headers), 404)
    response = client.delete("/api/v1/regions/110105", headers=county_a.headers)
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")


def test_bad_uuid_in_path(client: TestClient, admin_nation: MemberKey) -> None:
    body = _is_problem(
        client.post("/api/v1/members/not-a-uuid/revoke", headers=admin_nation.headers), 422
    )
    assert body["field"] == "member_id"


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert response.headers["x-request-id"] == "abc123"


def test_nul_characters_are_refused_with_the_field(
    client: TestClient, admin_nation: MemberKey
) -> None:
    response = client.post(
        "/api/v1/members",
        json={"name": "福田\u0000", "role": "county", "region": "440304"},
        headers=admin_nation.headers,
    )
    assert _is_problem(response, 422)["field"] == "name"
    nested = client.post(
        "/api/v1/members", json={"x": [{"y": "a\u0000"}]}, headers=admin_nation.headers
    )
    assert _is_problem(nested, 422)["field"] == "x.0.y"
    query = client.get("/api/v1/audit?action=%00", headers=admin_nation.headers)
    assert _is_problem(query, 422)["field"] == "action"
    # An escaped backslash followed by "u0000" is ordinary text, not a NUL.
    fine = client.post(
        "/api/v1/members",
        json={"name": "a\\u0000b", "role": "county", "region": "440304"},
        headers=admin_nation.headers,
    )
    assert fine.status_code == 201


def test_integers_beyond_64_bits_are_refused(client: TestClient, admin_nation: MemberKey) -> None:
    response = client.get(f"/api/v1/audit?cursor={2**64}", headers=admin_nation.headers)
    assert _is_problem(response, 422)["field"] == "cursor"


def test_no_page_loads_assets_from_outside(client: TestClient) -> None:
    """FastAPI's Swagger/ReDoc pages pull scripts from a CDN; the hub's own /docs (a packaged
    Swagger UI, tests/web/test_api_docs.py) refers only to itself, and there is no /redoc."""
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert not re.search(r'(src|href)="(https?:)?//', docs.text), "no asset from outside the hub"
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200

"""Every JSON route refuses a body that is not JSON with 415 and the accepted types (issue 21).

Before, a ``text/plain`` or form-encoded body reached the model as raw bytes and
came back as "Input should be a valid dictionary or object" (a 422 naming nothing
a client could act on). The refusal lives in one place, ``RequestBody``, so the
test walks every route of the API whose body is a ``RequestBody`` model.
"""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from exchange_hub.app import ROUTERS
from exchange_hub.request_body import RequestBody
from tests.fixtures.hub import MemberKey

NOT_JSON = [
    ("text/plain", b'{"kind": "query"}'),
    ("application/x-www-form-urlencoded", b"kind=query&urgency=normal"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
    ),
    ("application/xml", b"<kind>query</kind>"),
    ("text/json", b"{}"),
]


def _json_routes() -> list[tuple[str, str]]:
    """(method, path) of every API route with a JSON body; each body is a ``RequestBody``."""
    routes = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.body_field is None:
                continue
            if not route.path.startswith("/api/"):
                continue
            model = route.body_field.field_info.annotation
            assert isinstance(model, type) and issubclass(model, RequestBody), route.path
            path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
            routes.extend((method, path) for method in sorted(route.methods))
    return routes


def _assert_415(response: object) -> None:
    assert response.status_code == 415, response.text  # type: ignore[attr-defined]
    problem = response.json()  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    assert problem["field"] == "Content-Type"
    assert problem["accepted"] == ["application/json"]
    assert "application/json" in problem["detail"]


def test_every_json_route_is_found() -> None:
    paths = {path.split("/")[3] for _, path in _json_routes()}
    assert {"messages", "records", "persons", "reports", "members"} <= paths


@pytest.mark.parametrize(("content_type", "body"), NOT_JSON)
def test_every_json_route_refuses_other_media_types(
    client: TestClient, admin_nation: MemberKey, county_a: MemberKey, content_type: str, body: bytes
) -> None:
    for method, path in _json_routes():
        for member in (county_a, admin_nation):
            response = client.request(
                method, path, content=body,
                headers={**member.headers, "Content-Type": content_type},
            )  # fmt: skip
            if response.status_code in (403, 404, 405) and member is county_a:
                continue  # refused before the body is read; the admin tries it
            _assert_415(response)
            break


def test_json_with_a_charset_and_plus_json_still_work(
    client: TestClient, county_a: MemberKey
) -> None:
    body = b'{"id_number": "11010519491231002X", "purpose": "certificate check"}'
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.post(
            "/api/v1/persons/lookup", content=body,
            headers={**county_a.headers, "Content-Type": content_type},
        )  # fmt: skip
        assert response.status_code == 200, response.text


def test_a_form_posted_to_a_message_route_says_send_json(
    client: TestClient, county_b: MemberKey
) -> None:
    response = client.post(
        "/api/v1/messages", data={"kind": "query", "urgency": "normal"}, headers=county_b.headers
    )
    _assert_415(response)

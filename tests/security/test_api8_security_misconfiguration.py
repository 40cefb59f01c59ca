"""OWASP API8:2023 Security misconfiguration (issue 15, findings 4 and 11).

Finding 4: 10,000 ``[`` around ``"\\u0000"`` posted to ``/api/v1/messages``
without a key was a 500 (``RecursionError`` in the middleware's NUL check).
Wherever the hub parses JSON from outside — request bodies, batch lines, the
inbox cursor — nesting beyond ``jsonbody.MAX_DEPTH`` is a 400 problem document
(a per-line refusal in a batch), and a body without a key is a 401 unread.
The JSON-taking endpoints are listed from the application's OpenAPI document,
so an endpoint added later is covered too.

Finding 11: every answer — API, refusals given before the application runs,
console pages, static files, the OpenAPI document — says ``nosniff`` and denies
the browser features the hub does not use (Permissions-Policy); HSTS when the
request came over TLS (directly, or through a trusted proxy that says so); and
console cookies are Secure unless the hub runs on its embedded development
database (``./dev run`` on http://127.0.0.1).
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from exchange_hub import jsonbody
from exchange_hub.app import create_app
from exchange_hub.config import Settings
from exchange_hub.context import HubContext
from exchange_hub.errors import BadRequest
from exchange_hub.ratelimits import LocalFailedAuthLimiter
from tests.fixtures.database import PostgresTemplates, SqliteTemplates
from tests.fixtures.hub import MemberKey, make_context
from tests.records.factories import id_number, outflow
from tests.security.live import LiveHub, live_hub
from tests.web.helpers import make_user, post_sign_in

SOURCE = Path(__file__).resolve().parents[2] / "src" / "exchange_hub"
NUL = b'"\\u0000"'


def deep_array(depth: int, inner: bytes = NUL) -> bytes:
    return b"[" * depth + inner + b"]" * depth


def deep_object(depth: int, inner: bytes = NUL) -> bytes:
    return b'{"a": ' * depth + inner + b"}" * depth


DEEP_BODIES = {
    "10,000 arrays around a NUL": deep_array(10_000),
    "10,000 objects around a NUL": deep_object(10_000),
    "10,000 arrays": deep_array(10_000, b"1"),
    "100 objects": deep_object(100, b'"x"'),
    "100 arrays in a field": b'{"kind": ' + deep_array(100, b"1") + b"}",
}


def json_endpoints(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every operation that takes a JSON body, path ids filled in."""
    document = client.app.openapi()  # type: ignore[attr-defined]
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)))
    return found


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), (
        response.status_code,
        response.text[:200],
    )
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


def _answers(
    client: TestClient, headers: dict[str, str], content_type: str = "application/json"
) -> list[str]:
    """One line per (endpoint, body): the status, field and detail the hub answered."""
    lines = []
    for method, path in json_endpoints(client):
        for name, body in DEEP_BODIES.items():
            response = client.request(
                method, path, content=body, headers={**headers, "Content-Type": content_type}
            )
            problem = _problem(response)
            lines.append(f"{method} {path.split('/')[3]} {name}: {response.status_code} "
                         f"{problem.get('field')} {problem['detail'][:60]}")  # fmt: skip
    return lines


def test_there_are_json_endpoints_to_probe(client: TestClient) -> None:
    endpoints = json_endpoints(client)
    assert ("POST", "/api/v1/messages") in endpoints and len(endpoints) >= 8


def test_deep_nesting_with_a_key_is_400_naming_the_body(
    client: TestClient, county_a: MemberKey
) -> None:
    answers = _answers(client, county_a.headers)
    wrong = [line for line in answers if " 400 body " not in line or "deep" not in line]
    assert wrong == [], "\n".join(wrong)


def test_deep_nesting_without_a_key_is_401(client: TestClient) -> None:
    # Dozens of requests without a key from one address: lift the failed-authentication
    # limit (tests/security/test_api4_failed_authentication.py), or they turn into 429s.
    client.app.state.failed_auth_limiter = LocalFailedAuthLimiter(10_000, 300)  # type: ignore[attr-defined]
    answers = _answers(client, {})
    wrong = [line for line in answers if " 401 Authorization " not in line]
    assert wrong == [], "\n".join(wrong)


def test_deep_nesting_in_every_json_media_type(client: TestClient, county_a: MemberKey) -> None:
    """FastAPI parses application/*+json as JSON too: the same limit holds."""
    for content_type in ("application/json; charset=utf-8", "Application/JSON",
                         "application/merge-patch+json"):  # fmt: skip
        response = client.post(
            "/api/v1/messages",
            content=deep_array(10_000),
            headers={**county_a.headers, "Content-Type": content_type},
        )
        assert response.status_code == 400 and _problem(response)["field"] == "body", content_type


def test_nesting_within_the_limit_reaches_validation(
    client: TestClient, county_a: MemberKey
) -> None:
    """A document a little nested is the application's to judge (422 naming the field)."""
    response = client.post(
        "/api/v1/messages",
        content=deep_array(5, b"1"),
        headers={**county_a.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text


def test_deep_batch_lines_are_refused_one_by_one(client: TestClient, county_a: MemberKey) -> None:
    first = json.dumps(outflow(id_number(seq=1))).encode()
    last = json.dumps(outflow(id_number(seq=2))).encode()
    in_a_field = b'{"kind": "outflow", "person": ' + deep_object(100, b'"x"') + b"}"
    lines = [first, deep_array(10_000), in_a_field, deep_object(5_000), last]  # each < 64 KiB
    response = client.post(
        "/api/v1/records/batch",
        content=b"\n".join(lines) + b"\n",
        headers={**county_a.headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 2
    assert [(r["line"], r["field"]) for r in result["rejected"]] == [
        (2, "body"), (3, "body"), (4, "body"),
    ]  # fmt: skip
    assert all("deep" in r["detail"] for r in result["rejected"]), result["rejected"]


def test_a_deep_inbox_cursor_is_400(client: TestClient, county_a: MemberKey) -> None:
    """Cursors are at most 200 characters: 70 levels fit."""
    cursor = base64.urlsafe_b64encode(deep_array(70, b"1")).rstrip(b"=").decode()
    response = client.get(f"/api/v1/inbox?cursor={cursor}", headers=county_a.headers)
    assert response.status_code == 400 and _problem(response)["field"] == "cursor"


def test_the_depth_is_measured_outside_strings_and_without_recursion() -> None:
    limit = jsonbody.MAX_DEPTH
    assert not jsonbody.too_deep(deep_array(limit, b"1"))
    assert jsonbody.too_deep(deep_array(limit + 1, b"1"))
    assert jsonbody.too_deep(deep_object(limit + 1).decode())  # text as well as bytes
    brackets_in_strings = json.dumps({"a": "[" * 500, "b": ['\\"{' * 500], "c": "}" * 9})
    assert not jsonbody.too_deep(brackets_in_strings)
    assert jsonbody.too_deep(b'["\\\\", ' + deep_array(limit, b"1") + b"]")  # "\\" ends
    assert jsonbody.too_deep(deep_array(100_000))  # no RecursionError at any depth
    assert jsonbody.loads(b'{"x": [1, {"y": "]]]"}]}') == {"x": [1, {"y": "]]]"}]}


def test_loads_refuses_with_the_field_named() -> None:
    for document, status in ((deep_array(50, b"1"), 400), (b"[1,", 422), (b"\xff\xfe\x00", 422)):
        try:
            jsonbody.loads(document, field="cursor", what="cursor")
        except BadRequest as exc:
            assert (exc.status, exc.field) == (status, "cursor")
        else:
            raise AssertionError(f"{document[:10]!r} was accepted")


# Reads of JSON the hub wrote itself (its key ring, its catalogues, bodies it encrypted);
# everything from outside goes through exchange_hub.jsonbody.
TRUSTED_JSON_READS = {
    "crypto.py": "the key ring file of the operator",
    "web/i18n.py": "the console's bundled translations",
    "exchange/common.py": "message bodies the hub encrypted",
    "records/values.py": "record snapshots the hub encrypted",
    "idempotency.py": "answers the hub sealed under its key ring",
    "agent/state_repository.py": "the county agent's own state file, written by itself",
}


def test_outside_json_is_parsed_only_through_jsonbody() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        name = path.relative_to(SOURCE).as_posix()
        if name in TRUSTED_JSON_READS or name == "jsonbody.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Attribute) and func.attr in {"loads", "load"}:
                owner = func.value
                if isinstance(owner, ast.Name) and owner.id in {"json", "orjson"}:
                    offenders.append(f"{name}:{node.lineno} {owner.id}.{func.attr}")
    assert offenders == []


# -- finding 11: headers on every answer, HSTS over TLS, Secure cookies by default ---------------
PERMISSIONS_DENIED = ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()")


def _answers_of_every_kind(client: TestClient, key: MemberKey) -> dict[str, httpx.Response]:
    """An API answer, its refusals (also those given before the application runs), a console
    page, a static file and the OpenAPI document."""
    over_limit = {**key.headers, "Content-Type": "application/json", "Content-Length": "9999999"}
    return {
        "api": client.get("/api/v1/members/me", headers=key.headers),
        "401": client.get("/api/v1/members/me"),
        "401 with a body": client.post("/api/v1/messages", content=b"{}"),
        "413 by Content-Length": client.post("/api/v1/messages", headers=over_limit),
        "400 too deep": client.post("/api/v1/messages", content=deep_array(99),
                                    headers={**key.headers, "Content-Type": "application/json"}),
        "404": client.get("/api/v1/nothing-here", headers=key.headers),
        "health": client.get("/healthz"),
        "console": client.get("/console/sign-in"),
        "static": client.get("/console/static/console.css"),
        "openapi": client.get("/openapi.json"),
    }  # fmt: skip


def test_every_answer_says_nosniff_and_denies_unused_browser_features(
    client: TestClient, county_a: MemberKey
) -> None:
    wrong = []
    for kind, response in _answers_of_every_kind(client, county_a).items():
        nosniff = response.headers.get_list("x-content-type-options")
        policy = response.headers.get("permissions-policy", "")
        if nosniff != ["nosniff"] or not all(p in policy for p in PERMISSIONS_DENIED):
            wrong.append(f"{kind} ({response.status_code}): nosniff {nosniff}, policy {policy!r}")
        if "strict-transport-security" in response.headers:
            wrong.append(f"{kind}: HSTS over plain http")
    assert wrong == [], "\n".join(wrong)


def test_hsts_on_every_answer_over_tls(hub: HubContext, county_a: MemberKey) -> None:
    with TestClient(create_app(context=hub), base_url="https://testserver") as client:
        answers = _answers_of_every_kind(client, county_a)
    wrong = [
        f"{kind}: {response.headers.get('strict-transport-security')!r}"
        for kind, response in answers.items()
        if not response.headers.get("strict-transport-security", "").startswith("max-age=")
    ]
    assert wrong == [], "\n".join(wrong)


@pytest.fixture(scope="module")
def served(
    templates: SqliteTemplates | PostgresTemplates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveHub]:
    with live_hub(templates, tmp_path_factory.mktemp("api8"), {"HUB_INGEST_WORKERS": "0"}) as live:
        yield live


def test_hsts_behind_a_trusted_proxy_that_says_https(served: LiveHub) -> None:
    """``exchange-hub serve`` trusts X-Forwarded-Proto from 127.0.0.1 (uvicorn's proxy
    headers, FORWARDED_ALLOW_IPS): nginx on the same host terminates TLS."""
    for path in ("/healthz", "/openapi.json", "/console/static/console.css"):
        plain = httpx.get(served.url + path, timeout=10)
        proxied = httpx.get(served.url + path, headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert "strict-transport-security" not in plain.headers, path
        assert proxied.headers["strict-transport-security"].startswith("max-age="), path
        assert proxied.headers["x-content-type-options"] == "nosniff", path


def test_console_cookies_are_secure_unless_on_the_embedded_development_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("HUB_")]:
        monkeypatch.delenv(name)
    assert Settings(database_url="postgresql://hub@db/hub").cookies_secure is True
    assert Settings(database_url=f"sqlite:///{tmp_path}/office.db").cookies_secure is True
    assert Settings(data_dir=tmp_path).cookies_secure is False  # ./dev run on http://127.0.0.1
    assert (
        Settings(database_url="postgresql://hub@db/hub", secure_cookies=False).cookies_secure
        is False
    )
    assert Settings(data_dir=tmp_path, secure_cookies=True).cookies_secure is True
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub@db/hub")
    monkeypatch.setenv("HUB_SECURE_COOKIES", "")  # as the sample's empty line would set it
    assert Settings().cookies_secure is True


def test_production_console_cookies_are_secure(
    database_url: str, tmp_path: Path, gd_admin_user: str
) -> None:
    """On a production database and with nothing set, sign-in cookies carry Secure."""
    context = make_context(database_url, tmp_path / "data", secure_cookies=None)
    try:
        with TestClient(create_app(context=context), base_url="https://testserver") as client:
            page = client.get("/console/sign-in")
            assert all("Secure" in c for c in page.headers.get_list("set-cookie"))
            response = post_sign_in(client, gd_admin_user)
            assert response.status_code == 303
            assert all("Secure" in c for c in response.headers.get_list("set-cookie"))
    finally:
        context.dispose()


@pytest.fixture
def gd_admin_user(hub: HubContext) -> str:
    return make_user(hub, "admin_gd", role="admin", region="440000")

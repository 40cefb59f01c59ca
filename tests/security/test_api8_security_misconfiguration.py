"""OWASP API8:2023 Security misconfiguration (issue 15, findings 4 and 11).

Finding 4: 10,000 ``[`` around ``"\\u0000"`` posted to ``/api/v1/messages``
without a key was a 500 (``RecursionError`` in the middleware's NUL check).
Wherever the hub parses JSON from outside — request bodies, batch lines, the
inbox cursor — nesting beyond ``jsonbody.MAX_DEPTH`` is a 400 problem document
(a per-line refusal in a batch), and a body without a key is a 401 unread.
The JSON-taking endpoints are listed from the application's OpenAPI document,
so an endpoint added later is covered too.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from exchange_hub import jsonbody
from exchange_hub.errors import BadRequest
from tests.fixtures.hub import MemberKey
from tests.records.factories import id_number, outflow

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
        "/api/v1/messages", content=deep_array(5, b"1"), headers=county_a.headers
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

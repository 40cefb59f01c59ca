"""OWASP API9:2023 Improper Inventory Management: the published contract is the whole truth.

Finding 10 of the probe (issue 15): the OpenAPI document omitted answers the
hub gives (400 for malformed JSON, 409 on a withdrawn message, 413, 415, 429)
and ``OPTIONS`` answered ``Allow`` with the methods of one route only, so
``POST`` was missing on several paths. Clients generated from the document
must know every answer: each refusal is documented, per operation, as an
``application/problem+json`` problem document, and ``OPTIONS`` (and a 405)
lists every method of the path.

The statuses come from the error tree (``errors.HubError`` and its
subclasses), not from a list kept here; real refusals of each kind are
provoked and checked against the document of their operation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from exchange_hub import errors
from exchange_hub.context import HubContext
from exchange_hub.members import service as members
from tests.exchange.helpers import act, post_message, query_body
from tests.fixtures.hub import MemberKey, client_for, make_context, make_member

PROBLEM = errors.PROBLEM_MEDIA_TYPE
PUBLIC = {"/healthz", "/readyz"}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def error_statuses() -> set[int]:
    """Every status of the error tree, but 500 (never an answer to input)."""
    found, pending = set(), [errors.HubError]
    while pending:
        cls = pending.pop()
        found.add(cls.status)
        pending += cls.__subclasses__()
    return found - {500}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def documented(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method.lower()]["responses"]  # type: ignore[no-any-return]


def is_problem(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get(PROBLEM, {}).get("schema", {})
    return schema == {"$ref": "#/components/schemas/Problem"}


# -- the document ------------------------------------------------------------------------------
def test_the_error_tree_reaches_the_statuses_the_probe_saw() -> None:
    assert {400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 503} <= error_statuses()


def expected_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """What any operation of its kind can answer (the middleware's limits hold everywhere)."""
    expected = {413, 422}
    if path in PUBLIC:
        return expected
    expected |= error_statuses() - {405}  # a method the path lacks has no operation to note it on
    if method == "GET":
        expected -= {409, 415}
    elif "requestBody" not in operation:
        expected -= {415}
    return expected


def test_every_operation_documents_every_refusal_of_its_kind(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in operations(document):
        responses = operation["responses"]
        for status in sorted(expected_statuses(method, path, operation)):
            if not is_problem(responses.get(str(status), {})):
                missing.append(f"{method} {path}: {status}")
    assert not missing, "undocumented refusals:\n" + "\n".join(missing)


def test_every_error_status_is_documented_somewhere(document: dict[str, Any]) -> None:
    seen = {int(s) for _, _, op in operations(document) for s in op["responses"] if s.isdigit()}
    assert error_statuses() - {405} <= seen


def test_readiness_documents_its_503(document: dict[str, Any]) -> None:
    assert "503" in documented(document, "GET", "/readyz")


def test_no_framework_error_shapes_are_left(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "Problem" in schemas


# -- real refusals, checked against the document ----------------------------------------------
def check_documented(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    responses = documented(document, method, path)
    status = str(response.status_code)
    assert status in responses, f"{method} {path} answered {status}, undocumented: {response.text}"
    assert is_problem(responses[status])
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == response.status_code
    assert {"type", "title", "detail"} <= set(body)


@pytest.fixture
def members_(hub: HubContext) -> dict[str, MemberKey]:
    return {
        "sender": make_member(hub, role="county", region="440305"),
        "recipient": make_member(hub, role="county", region="110105"),
        "police": make_member(hub, role="department", region="440305", department="police"),
    }


def test_each_refusal_the_probe_saw_is_documented(
    client: TestClient, document: dict[str, Any], members_: dict[str, MemberKey]
) -> None:
    sender, police = members_["sender"], members_["police"]
    json_headers = {**sender.headers, "Content-Type": "application/json"}
    deep = b"[" * 10_000 + b"]" * 10_000
    cases = [
        (400, "POST", "/api/v1/messages", "/api/v1/messages",
         {"content": deep, "headers": json_headers}),
        (401, "GET", "/api/v1/inbox", "/api/v1/inbox", {}),
        (403, "POST", "/api/v1/persons/lookup", "/api/v1/persons/lookup",
         {"json": {"id_number": "11010519491231002X", "purpose": "check"},
          "headers": police.headers}),
        (404, "GET", "/api/v1/records/{record_id}", f"/api/v1/records/{uuid.uuid4()}",
         {"headers": sender.headers}),
        (413, "POST", "/api/v1/records", "/api/v1/records",
         {"content": b" " * 1_100_000, "headers": json_headers}),
        (415, "POST", "/api/v1/records/batch", "/api/v1/records/batch",
         {"content": b"kind\n", "headers": {**sender.headers, "Content-Type": "text/plain"}}),
        (422, "POST", "/api/v1/records", "/api/v1/records",
         {"json": {"kind": 1}, "headers": sender.headers}),
    ]  # fmt: skip
    for status, method, template, path, kwargs in cases:
        response = client.request(method, path, **kwargs)
        assert response.status_code == status, (path, response.text)
        check_documented(document, method, template, response)


def test_a_refusal_on_a_withdrawn_message_is_documented(
    client: TestClient, document: dict[str, Any], members_: dict[str, MemberKey]
) -> None:
    sender, recipient = members_["sender"], members_["recipient"]
    sent = post_message(client, sender, query_body(to_region="110105"))
    assert act(client, sender, sent["id"], "withdraw").status_code == 200
    for member, verb in ((sender, "withdraw"), (recipient, "receipt")):
        response = act(client, member, sent["id"], verb)
        assert response.status_code == 409, response.text
        check_documented(document, "POST", f"/api/v1/messages/{{message_id}}/{verb}", response)


def test_a_rate_limited_answer_is_documented(
    database_url: str, tmp_path: Path, document: dict[str, Any]
) -> None:
    limited = make_context(database_url, tmp_path / "limited", rate_limit_per_minute=1)
    try:
        member = make_member(limited, role="county", region="440305")
        with client_for(limited) as client:
            answers = [client.get("/api/v1/inbox", headers=member.headers) for _ in range(12)]
        refused = [a for a in answers if a.status_code == 429]
        assert refused, [a.status_code for a in answers]
        check_documented(document, "GET", "/api/v1/inbox", refused[0])
        assert refused[0].headers["retry-after"]
    finally:
        limited.dispose()


def test_an_unreachable_database_is_documented(
    client: TestClient,
    document: dict[str, Any],
    members_: dict[str, MemberKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(*_: Any) -> None:
        raise OperationalError("SELECT", {}, ConnectionError("the database went away"))

    monkeypatch.setattr(members, "find_by_api_key", down)
    response = client.get("/api/v1/inbox", headers=members_["sender"].headers)
    assert response.status_code == 503
    check_documented(document, "GET", "/api/v1/inbox", response)


# -- OPTIONS and 405 ---------------------------------------------------------------------------
def concrete(path: str) -> str:
    """A path of the template (every parameter filled with a fresh UUID)."""
    while "{" in path:
        path = path[: path.index("{")] + str(uuid.uuid4()) + path[path.index("}") + 1 :]
    return path


def allow(response: Any) -> set[str]:
    return {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}


def test_options_lists_every_method_of_every_path(
    client: TestClient, document: dict[str, Any]
) -> None:
    wrong = []
    for path, methods in document["paths"].items():
        response = client.options(concrete(path))
        listed = {m.upper() for m in methods} | {"OPTIONS"}
        if response.status_code not in (200, 204) or not listed <= allow(response):
            wrong.append(f"{path}: {response.status_code} Allow: {sorted(allow(response))}")
    assert not wrong, "OPTIONS misses methods:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/records", "/api/v1/records/batch", f"/api/v1/records/{uuid.uuid4()}",
     "/api/v1/reports", "/api/v1/scorecard/settings", "/api/v1/members", "/openapi.json"],
)  # fmt: skip
def test_allow_is_the_truth_and_405_says_the_same(client: TestClient, path: str) -> None:
    listed = allow(client.options(path))
    for method in METHODS:
        response = client.request(method, path)
        if method in listed:
            assert response.status_code != 405, (method, path)
        else:
            assert response.status_code == 405, (method, path, response.status_code)
            assert allow(response) == listed
            assert response.headers["content-type"] == PROBLEM
            if method != "HEAD":  # an answer to HEAD has no body
                assert response.json()["status"] == 405


def test_options_of_a_path_that_does_not_exist_is_404(client: TestClient) -> None:
    response = client.options("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM

"""OWASP API3:2023 Broken Object Property Level Authorization: what a body may set, and as what.

Finding 7 of the probe (issue 15): wrong JSON types were coerced and stored
— ``"birth_date": 0`` became 1970-01-01, ``"children_count": "2"`` a number,
``"certificate_checked": "yes"`` true, an integer ``moved_on`` a date.
Request bodies are strict JSON: every field takes its JSON type only (dates,
times and ids as ISO strings), unknown fields are refused, and a wrong type
is a 422 problem naming the field, raised before any work is done.

The cases are generated from the OpenAPI document: every operation with a
JSON body, every field inside it (nested objects, list items, map values),
several values of another JSON type for each. CSV batch lines are text by
nature and are converted explicitly; they must go on loading.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange_hub.app import create_app
from exchange_hub.config import Settings
from exchange_hub.context import HubContext
from exchange_hub.models import Record
from tests.fixtures.hub import MemberKey, make_member
from tests.records.factories import id_number, inflow, outflow
from tests.security import request_bodies as bodies

DOCUMENT = create_app(Settings(database_url="sqlite://")).openapi()
OPERATIONS = {op.label: op for op in bodies.operations(DOCUMENT)}


def test_the_document_has_json_bodies_to_walk() -> None:
    assert "POST /api/v1/records" in OPERATIONS
    assert len(OPERATIONS) >= 10
    assert sum(1 for op in OPERATIONS.values() for _ in bodies.fields(op.schema)) >= 80


def refusal_field(response: Any) -> str | None:
    """The field a request-validation 422 names (None for any other answer)."""
    if response.status_code != 422 or "errors" not in response.json():
        return None
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["field"]  # type: ignore[no-any-return]


@pytest.fixture
def member(hub: HubContext) -> MemberKey:
    return make_member(hub, role="admin", region="000000", person_data_grant=True)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_the_minimal_body_passes_validation(
    client: TestClient, member: MemberKey, label: str
) -> None:
    """Dates, times and ids sent as ISO strings are accepted (strict JSON, not strict Python)."""
    operation = OPERATIONS[label]
    body = bodies.minimal(operation.schema)
    response = client.request(operation.method, operation.url(), json=body, headers=member.headers)
    assert refusal_field(response) is None, response.text


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_a_wrong_type_is_refused_naming_the_field(
    client: TestClient, member: MemberKey, label: str
) -> None:
    operation = OPERATIONS[label]
    base = bodies.minimal(operation.schema)
    coerced = []
    for path, schema in bodies.fields(operation.schema):
        for value in bodies.wrong_values(schema):
            body = bodies.with_value(operation.schema, base, path, value)
            response = client.request(
                operation.method, operation.url(), json=body, headers=member.headers
            )
            if refusal_field(response) != ".".join(path):
                coerced.append(
                    f"{'.'.join(path)} = {value!r}: {response.status_code} {response.text[:160]}"
                )
    assert not coerced, f"{label} took wrong types:\n" + "\n".join(coerced)


# -- the finding as reported ------------------------------------------------------------------
NUMBER = id_number("110105", date(1985, 3, 14), seq=21)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"person": {"birth_date": 0}}, "person.birth_date"),
        ({"person": {"children_count": "2"}}, "person.children_count"),
        ({"certificate_checked": "yes"}, "certificate_checked"),
        ({"moved_on": 20261002}, "moved_on"),
        ({"certificate": {"valid_until": 1893456000}}, "certificate.valid_until"),
    ],
)
def test_the_reported_coercions_store_nothing(
    client: TestClient, hub: HubContext, county_b: MemberKey, change: dict[str, Any], field: str
) -> None:
    body = inflow(NUMBER)
    for key, value in change.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) else value
    response = client.post("/api/v1/records", json=body, headers=county_b.headers)
    assert refusal_field(response) == field, response.text
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Record)) == 0


def test_a_patch_is_as_strict_and_still_merges_dates(
    client: TestClient, county_a: MemberKey
) -> None:
    created = client.post("/api/v1/records", json=outflow(NUMBER), headers=county_a.headers)
    assert created.status_code == 201, created.text
    url = f"/api/v1/records/{created.json()['id']}"
    refused = client.patch(url, json={"person": {"children_count": "2"}}, headers=county_a.headers)
    assert refusal_field(refused) == "person.children_count", refused.text
    changed = client.patch(
        url,
        json={"moved_on": "2026-04-01", "person": {"children_count": 2}},
        headers=county_a.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["moved_on"] == "2026-04-01"
    assert changed.json()["person"]["children_count"] == 2


# -- batches ----------------------------------------------------------------------------------
BATCH = "/api/v1/records/batch"


def test_ndjson_lines_are_strict_json_too(client: TestClient, county_b: MemberKey) -> None:
    good = inflow(id_number(seq=22))
    bad = inflow(id_number(seq=23))
    bad["person"]["children_count"] = "2"
    worse = inflow(id_number(seq=24))
    worse["moved_on"] = 0
    lines = "\n".join(json.dumps(b, ensure_ascii=False) for b in (good, bad, worse)) + "\n"
    response = client.post(
        BATCH,
        content=lines.encode(),
        headers={**county_b.headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 1
    assert [(r["line"], r["field"]) for r in result["rejected"]] == [
        (2, "person.children_count"),
        (3, "moved_on"),
    ]


def test_csv_lines_are_text_and_still_load(client: TestClient, county_b: MemberKey) -> None:
    header = (
        "kind,id_number,name,birth_date,children_count,hukou_region,moved_on,"
        "certificate_checked,certificate_valid_until"
    )
    rows = [
        f"inflow,{id_number(seq=25)},李娜,1985-03-14,2,110105,2026-10-02,true,2028-10-01",
        f"inflow,{id_number(seq=26)},王芳,,0,110105,2026-10-03,false,",
        f"inflow,{id_number(seq=27)},张丽,,two,110105,2026-10-03,yes,",
        f"inflow,{id_number(seq=28)},赵敏,,,110105,0,,",
    ]
    response = client.post(
        BATCH,
        content=("\n".join([header, *rows]) + "\n").encode(),
        headers={**county_b.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 2, result
    assert [(r["line"], r["field"]) for r in result["rejected"]] == [
        (4, "children_count"),
        (5, "moved_on"),
    ]

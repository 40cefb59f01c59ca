"""schemas/MessageCreate.json states what the hub enforces (issue 21).

The schema marked ``urgency`` optional though a query without it is refused. Its
conditions are now ``if``/``then`` rules generated from the model; each case below is
judged by the published schema (jsonschema-rs, as a member's validator would) and by
the hub, and the two verdicts must agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from tests.exchange.helpers import id_number, notification_body, query_body
from tests.fixtures.hub import MemberKey

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CERTIFICATE = {"number": "BJ2026-0001"}
HEALTH = {"checked_on": "2026-10-02", "result": "normal"}


def _without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != name}


CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("query", query_body(to_region="110105"), None),
    ("query without urgency", _without(query_body(to_region="110105"), "urgency"), "urgency"),
    ("query with a null urgency", query_body(to_region="110105", urgency=None), "urgency"),
    ("notification with a null type", {**notification_body(to_region="110105"), "type": None},
     "type"),
    ("query with a type", query_body(to_region="110105", type="birth"), "type"),
    ("normal query with a certificate",
     query_body(to_region="110105", certificate=CERTIFICATE), "certificate"),
    ("certificate query with its certificate",
     query_body(to_region="110105", urgency="certificate", certificate=CERTIFICATE), None),
    ("query with a health check", query_body(to_region="110105", health_check=HEALTH),
     "health_check"),
    ("notification", notification_body(to_region="110105"), None),
    ("notification without type", _without(notification_body(to_region="110105"), "type"),
     "type"),
    ("health-check notification without it",
     _without(notification_body(to_region="110105"), "health_check"), "health_check"),
    ("notification with urgency", notification_body(to_region="110105", urgency="normal"),
     "urgency"),
    ("health-check notification with a birth too",
     notification_body(to_region="110105", birth={"born_on": "2026-09-30"}), "birth"),
    ("other notification", notification_body(to_region="110105", type_="other"), None),
    ("other notification with a detail",
     notification_body(to_region="110105", type_="other", health_check=HEALTH), "health_check"),
    ("birth notification", notification_body(to_region="110105", type_="birth"), None),
    ("inflow notification without inflow",
     _without(notification_body(to_region="110105", type_="inflow"), "inflow"), "inflow"),
]  # fmt: skip


def _retrieve(uri: str) -> Any:
    return json.loads((SCHEMAS / uri.rsplit("/", 1)[-1]).read_text())


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads((SCHEMAS / "MessageCreate.json").read_text())
    return jsonschema_rs.validator_for(
        schema, retriever=_retrieve, base_uri="https://exchange-hub.invalid/schemas/"
    )


def test_the_schema_says_a_query_needs_urgency() -> None:
    schema = json.loads((SCHEMAS / "MessageCreate.json").read_text())
    rules = [r for r in schema["allOf"] if r["if"]["properties"] == {"kind": {"const": "query"}}]
    assert rules and rules[0]["then"]["required"] == ["urgency"]
    assert rules[0]["then"]["properties"]["urgency"] == {
        "enum": ["urgent", "normal", "certificate"]
    }
    assert rules[0]["if"]["required"] == ["kind"]


@pytest.mark.parametrize(("case", "body", "field"), CASES, ids=[c[0] for c in CASES])
def test_schema_and_hub_agree(
    client: TestClient, county_b: MemberKey, validator: Any, case: str, body: dict[str, Any],
    field: str | None,
) -> None:  # fmt: skip
    body = {**body, "subject": {"id_number": id_number("110105")}}
    response = client.post("/api/v1/messages", json=body, headers=county_b.headers)
    assert validator.is_valid(body) is (field is None), case
    if field is None:
        assert response.status_code == 201, response.text
    else:
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field

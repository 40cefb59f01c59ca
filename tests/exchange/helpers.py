"""Factories for exchange tests: ID numbers, message bodies, posting through the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from exchange_hub.id_numbers import expected_check_character as check_character
from tests.fixtures.hub import MemberKey


def id_number(prefix: str = "110105", born: str = "19900101", seq: str = "123") -> str:
    """A valid 18-character ID number (correct check character)."""
    body = prefix + born + seq
    return body + check_character(body)


def query_body(
    *,
    to_region: str | None = None,
    urgency: str = "normal",
    subject_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "query",
        "urgency": urgency,
        "subject": {"id_number": subject_id or id_number()},
        "purpose": "verify household registration for public services",
        **extra,
    }
    if to_region is not None:
        body["to_region"] = to_region
    return body


def notification_body(
    *, to_region: str, type_: str = "health_check", subject_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "health_check": {"health_check": {"checked_on": "2026-10-02", "result": "normal"}},
        "contraception": {"contraception": {"served_on": "2026-10-02", "method": "iud"}},
        "birth": {"birth": {"born_on": "2026-09-30", "child_sex": "F"}},
        "inflow": {"inflow": {"residence_region": "440305", "arrived_on": "2026-10-01"}},
        "other": {"note": "service information"},
    }[type_]
    return {
        "kind": "notification",
        "type": type_,
        "subject": {"id_number": subject_id or id_number()},
        "to_region": to_region,
        "purpose": "service information for the household county",
        **details,
        **extra,
    }


def post_message(client: TestClient, sender: MemberKey, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/messages", json=body, headers=sender.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def send_query(client: TestClient, sender: MemberKey, to: MemberKey, **extra: Any) -> str:
    subject = id_number(to.region)
    return str(
        post_message(client, sender, query_body(to_region=to.region, subject_id=subject, **extra))[
            "id"
        ]
    )


def act(client: TestClient, member: MemberKey, message_id: str, verb: str, **body: Any) -> Any:
    """POST /messages/{id}/{verb} (receipt, feedback, withdraw)."""
    return client.post(
        f"/api/v1/messages/{message_id}/{verb}", json=body or None, headers=member.headers
    )

"""Idempotency-Key on every exchange write: replay, other body, in flight, per member."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import IdempotencyKey, Message, MessageEvent
from tests.exchange.helpers import id_number, query_body, send_query
from tests.fixtures.hub import MemberKey


def _count(hub: HubContext, what: object) -> int:
    with hub.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(what)) or 0)  # type: ignore[arg-type]


def test_same_key_same_body_returns_the_original_response(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    headers = {**county_b.headers, "Idempotency-Key": "q-1"}
    body = query_body(to_region="110105")
    first = client.post("/api/v1/messages", json=body, headers=headers)
    again = client.post("/api/v1/messages", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(hub, Message) == 1


def test_same_key_other_body_is_refused(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    headers = {**county_b.headers, "Idempotency-Key": "q-2"}
    client.post("/api/v1/messages", json=query_body(to_region="110105"), headers=headers)
    other = query_body(to_region="110105", subject_id=id_number("110105", seq="456"))
    response = client.post("/api/v1/messages", json=other, headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert _count(hub, Message) == 1


def test_a_key_still_in_flight_is_a_conflict(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    body = query_body(to_region="110105")
    from exchange_hub import idempotency

    digest = idempotency.request_hash("POST", "/api/v1/messages", body)
    with transaction(hub.sessions) as session:
        session.add(
            IdempotencyKey(
                member_id=uuid.UUID(county_b.id), key="q-3", request_hash=digest,
                state="running", created_at=hub_clock.now(),
            )
        )  # fmt: skip
    headers = {**county_b.headers, "Idempotency-Key": "q-3"}
    response = client.post("/api/v1/messages", json=body, headers=headers)
    assert response.status_code == 409
    assert _count(hub, Message) == 0


def test_keys_are_per_member(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    body_to_a = query_body(to_region="110105")
    body_to_b = query_body(to_region="440305")
    client.post(
        "/api/v1/messages", json=body_to_a, headers={**county_b.headers, "Idempotency-Key": "k"}
    )
    response = client.post(
        "/api/v1/messages", json=body_to_b, headers={**county_a.headers, "Idempotency-Key": "k"}
    )
    assert response.status_code == 201
    assert _count(hub, Message) == 2


def test_feedback_retried_with_its_key_replays_instead_of_conflicting(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    message_id = send_query(client, county_b, county_a)
    headers = {**county_a.headers, "Idempotency-Key": "fb-1"}
    url = f"/api/v1/messages/{message_id}/feedback"
    first = client.post(url, json={"result": "not_found"}, headers=headers)
    retry = client.post(url, json={"result": "not_found"}, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    second = client.post(
        url, json={"result": "found"}, headers={**county_a.headers, "Idempotency-Key": "fb-2"}
    )
    assert second.status_code == 409
    with hub.sessions() as session:
        answered = session.scalar(
            select(func.count())
            .select_from(MessageEvent)
            .where(MessageEvent.to_state == "answered")
        )
    assert answered == 1


def test_a_refused_write_does_not_burn_the_key(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    message_id = send_query(client, county_b, county_a)
    headers = {**county_a.headers, "Idempotency-Key": "fb-3"}
    url = f"/api/v1/messages/{message_id}/feedback"
    bad = client.post(url, json={"result": "mismatch"}, headers=headers)
    assert bad.status_code == 422
    good = client.post(
        url, json={"result": "mismatch", "differences": [{"field": "name"}]}, headers=headers
    )
    assert good.status_code == 200


def test_receipt_and_withdraw_take_keys_too(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    first = send_query(client, county_b, county_a)
    second = send_query(client, county_b, county_a)
    receipt_headers = {**county_a.headers, "Idempotency-Key": "r-1"}
    url = f"/api/v1/messages/{first}/receipt"
    assert client.post(url, headers=receipt_headers).status_code == 200
    assert client.post(url, headers=receipt_headers).status_code == 200  # replay, not 409
    assert client.post(url, headers=county_a.headers).status_code == 409  # no key: a real repeat
    withdraw_headers = {**county_b.headers, "Idempotency-Key": "w-1"}
    url = f"/api/v1/messages/{second}/withdraw"
    assert client.post(url, headers=withdraw_headers).json()["state"] == "withdrawn"
    assert client.post(url, headers=withdraw_headers).json()["state"] == "withdrawn"


def test_malformed_key_is_refused(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    headers = {**county_b.headers, "Idempotency-Key": "x" * 201}
    response = client.post("/api/v1/messages", json=query_body(to_region="110105"), headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "Idempotency-Key"

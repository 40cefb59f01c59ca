"""Typed answers (issue 16): idempotent writes answer with their route's response model.

A fresh answer goes through ``response_model`` like any route's (a service that
loses a required field is caught, not sent); a replay is the stored answer
validated with that model, so an answer that no longer fits is a problem
document, never a 500 nor an untyped body; answers stored by the older hub
(``jsonable_encoder`` of a dict, ``+00:00`` times) still replay.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from fastapi import Response
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import func, select

from exchange_hub import idempotency
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import Conflict
from exchange_hub.exchange import service as exchange
from exchange_hub.exchange.receipts import verify_receipt
from exchange_hub.models import IdempotencyKey, Message, Record
from tests.exchange.helpers import query_body
from tests.fixtures.hub import MemberKey
from tests.records.factories import id_number, outflow

MEMBER = uuid.uuid4()


class Small(BaseModel):
    n: int


class Larger(BaseModel):
    n: int
    name: str


def _answer(hub: HubContext, model: type[BaseModel], calls: list[int]) -> tuple[object, Response]:
    response = Response()
    with transaction(hub.sessions) as session:

        def work() -> Small:
            calls.append(1)
            return Small(n=len(calls))

        answer = idempotency.answer(
            session, MEMBER, "typed-1", "digest", work,  # type: ignore[arg-type]
            model=model, response=response, status_code=201,
        )  # fmt: skip
    return answer, response


def test_a_replay_is_the_stored_answer_as_the_model(hub: HubContext) -> None:
    calls: list[int] = []
    first, fresh = _answer(hub, Small, calls)
    again, replayed = _answer(hub, Small, calls)
    assert first == again == Small(n=1) and len(calls) == 1
    assert fresh.status_code == replayed.status_code == 201
    assert idempotency.REPLAYED_HEADER not in fresh.headers
    assert replayed.headers[idempotency.REPLAYED_HEADER] == "true"


def test_a_stored_answer_that_no_longer_fits_the_model_is_a_conflict(hub: HubContext) -> None:
    calls: list[int] = []
    _answer(hub, Small, calls)
    with pytest.raises(Conflict) as caught:
        _answer(hub, Larger, calls)
    assert caught.value.field == "Idempotency-Key" and len(calls) == 1


def _stored_answer(hub: HubContext, member: MemberKey, key: str) -> dict:  # type: ignore[type-arg]
    with hub.sessions() as session:
        row = session.get(IdempotencyKey, (uuid.UUID(member.id), key))
        assert row is not None and row.response_enc is not None
        context = idempotency.response_context(row.member_id, key)
        return json.loads(hub.keyring.decrypt(row.response_enc, context))  # type: ignore[no-any-return]


def _seal(hub: HubContext, member: MemberKey, key: str, answer: dict) -> None:  # type: ignore[type-arg]
    with transaction(hub.sessions) as session:
        row = session.get(IdempotencyKey, (uuid.UUID(member.id), key))
        assert row is not None
        context = idempotency.response_context(row.member_id, key)
        row.response_enc = hub.keyring.encrypt(
            json.dumps(answer, ensure_ascii=False, separators=(",", ":")), context
        )


def _records(hub: HubContext) -> int:
    with hub.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Record)) or 0)


def test_a_replay_whose_stored_answer_lost_a_field_is_a_problem_document(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    body = outflow(id_number("110105", seq=11))
    headers = {**county_a.headers, "Idempotency-Key": "typed-rec"}
    first = client.post("/api/v1/records", json=body, headers=headers)
    assert first.status_code == 201, first.text
    stored = _stored_answer(hub, county_a, "typed-rec")
    assert stored == first.json()
    del stored["outcome"]  # an answer kept by a hub whose RecordWritten had no outcome
    _seal(hub, county_a, "typed-rec", stored)
    replay = client.post("/api/v1/records", json=body, headers=headers)
    assert replay.status_code == 409, replay.text
    assert replay.headers["content-type"].startswith("application/problem+json")
    assert replay.json()["field"] == "Idempotency-Key"
    assert "Idempotent-Replayed" not in replay.headers
    assert _records(hub) == 1  # never run twice


def test_an_answer_stored_by_the_older_hub_still_replays(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    """The old routes stored ``jsonable_encoder`` of the service's dict: times as
    ``+00:00``, not pydantic's ``Z``. Such an answer validates and replays."""
    headers = {**county_b.headers, "Idempotency-Key": "typed-msg"}
    body = query_body(to_region="110105")
    first = client.post("/api/v1/messages", json=body, headers=headers)
    assert first.status_code == 201, first.text
    stored = json.dumps(_stored_answer(hub, county_b, "typed-msg"))
    older = json.loads(re.sub(r'(\d{2}:\d{2}:\d{2}(?:\.\d+)?)Z"', r'\1+00:00"', stored))
    assert older != first.json()  # the older form differs on the wire
    _seal(hub, county_b, "typed-msg", older)
    replay = client.post("/api/v1/messages", json=body, headers=headers)
    assert replay.status_code == 201, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert verify_receipt(hub.keyring, replay.json()["receipt"])  # still verifies as sent
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_response_model_rejects_an_answer_missing_a_required_field(
    client: TestClient,
    hub: HubContext,
    county_a: MemberKey,
    county_b: MemberKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before issue 16's typed answers the write routes sent a ``JSONResponse`` of
    whatever dict the service returned; now ``response_model`` checks what they return."""
    sent = client.post(
        "/api/v1/messages", json=query_body(to_region="110105"), headers=county_b.headers
    )
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["id"]
    acknowledge = exchange.acknowledge

    def without_state(*args: object, **kwargs: object) -> dict:  # type: ignore[type-arg]
        whole = acknowledge(*args, **kwargs)  # type: ignore[arg-type]
        return whole.model_dump(exclude={"state"})  # the old services' untyped form

    monkeypatch.setattr(exchange, "acknowledge", without_state)
    with pytest.raises(ResponseValidationError) as caught:
        client.post(f"/api/v1/messages/{message_id}/receipt", headers=county_a.headers)
    assert [error["loc"][-1] for error in caught.value.errors()] == ["state"]
    with hub.sessions() as session:  # the refused answer's transaction rolled back
        message = session.get(Message, uuid.UUID(message_id))
        assert message is not None and message.state != "received"

"""The bulk inflow hook: a batch notifies and queries exactly as single pushes do (SPEC §3).

The same five inflows land once as a batch (``hooks.inflows_registered``, once
per chunk) and once record by record (``hooks.inflow_registered``); the
messages, their events, pushes and change-feed entries must be the same.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange import common, service
from exchange_hub.models import Change, Member, Message, MessageEvent, PushDelivery, Record
from tests.fixtures.hub import MemberKey
from tests.records.factories import id_number, inflow, outflow

NO_OUTFLOW = id_number("110105", seq=30)
WITH_OUTFLOW = id_number("110105", seq=31)
PREFIX_ONLY = id_number("110105", seq=32)
SAME_COUNTY = id_number("440305", seq=33)
BY_RECORD = id_number("440106", seq=34)  # registered in 110105 although born in 440106


def arrivals() -> list[dict[str, Any]]:
    return [
        inflow(NO_OUTFLOW),
        inflow(WITH_OUTFLOW),
        inflow(PREFIX_ONLY, hukou_region=None),
        inflow(SAME_COUNTY, hukou_region="440305"),
        inflow(BY_RECORD, hukou_region=None),
    ]


# What each arrival sends to its origin, whichever path it took.
EXPECTED = sorted([
    (NO_OUTFLOW, "notification", "inflow", "110105"),
    (NO_OUTFLOW, "query", "normal", "110105"),
    (WITH_OUTFLOW, "notification", "inflow", "110105"),
    (PREFIX_ONLY, "notification", "inflow", "110105"),
    (PREFIX_ONLY, "query", "normal", "110105"),
    (BY_RECORD, "notification", "inflow", "110105"),
])  # fmt: skip


def land(client: TestClient, member: MemberKey, bodies: list[dict[str, Any]], mode: str) -> Any:
    if mode == "batch":
        content = "\n".join(json.dumps(b, ensure_ascii=False) for b in bodies).encode()
        headers = {**member.headers, "Content-Type": "application/x-ndjson"}
        response = client.post("/api/v1/records/batch", content=content, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()
    for body in bodies:
        response = client.post("/api/v1/records", json=body, headers=member.headers)
        assert response.status_code == 201, response.text


def with_push_endpoint(hub: HubContext, member: MemberKey) -> None:
    with transaction(hub.sessions) as session:
        session.get(Member, uuid.UUID(member.id)).push_url = "https://push.example/hub"  # type: ignore[union-attr]
    service.forget_push_members()


def sent_messages(hub: HubContext) -> list[tuple[str, str, str, str]]:
    with hub.sessions() as session:
        out = []
        for message in session.scalars(select(Message)):
            content = common.decrypt_content(session, message)
            out.append((content["subject"]["id_number"], message.kind, message.subtype,
                        message.to_region))  # fmt: skip
        return sorted(out)


@pytest.mark.parametrize("mode", ["batch", "single"])
def test_every_inflow_notifies_its_origin_once_and_queries_without_an_outflow(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey, mode: str
) -> None:
    with_push_endpoint(hub, county_a)
    land(client, county_a, [outflow(WITH_OUTFLOW), outflow(BY_RECORD)], "single")
    land(client, county_b, arrivals(), mode)
    assert sent_messages(hub) == EXPECTED
    with hub.sessions() as session:
        messages = session.scalars(select(Message)).all()
        records = {r.id: r for r in session.scalars(select(Record).where(Record.kind == "inflow"))}
        for message in messages:
            content = common.decrypt_content(session, message)
            assert (message.from_region, message.state, message.period) == (
                "440305", "submitted", message.submitted_at.strftime("%Y-%m")
            )  # fmt: skip
            assert content["record_id"] == str(message.record_id)
            assert records[message.record_id].registering_region == "440305"
            assert message.hub_receipt["digest"] == message.body_digest  # type: ignore[index]
            assert message.deadline > message.submitted_at
            if message.kind == "notification":
                assert content["inflow"]["residence_region"] == "440305"
                assert content["inflow"]["certificate_checked"] is True
        events = session.scalars(select(MessageEvent)).all()
        pushes = session.scalars(select(PushDelivery)).all()
        feed = session.scalars(select(Change).where(Change.object_type == "message")).all()
    ids = sorted(str(m.id) for m in messages)
    assert sorted(str(e.message_id) for e in events) == ids
    assert {(e.to_state, e.actor) for e in events} == {("submitted", "county:440305:county 440305")}
    assert sorted(str(p.message_id) for p in pushes) == ids
    assert {(p.state, p.region) for p in pushes} == {("pending", "110105")}
    assert sorted(c.object_id for c in feed) == ids
    assert {(c.action, c.region_a, c.region_b) for c in feed} == {("submitted", "440305", "110105")}
    assert sorted((c.summary or {})["subtype"] for c in feed) == ["inflow"] * 4 + ["normal"] * 2


def test_a_batch_appends_message_changes_after_its_records(
    client: TestClient, hub: HubContext, county_b: MemberKey
) -> None:
    land(client, county_b, arrivals()[:1], "batch")
    with hub.sessions() as session:
        feed = session.scalars(select(Change).order_by(Change.seq)).all()
    assert [c.object_type for c in feed] == ["record", "message", "message"]


def test_a_repushed_inflow_sends_nothing_new(
    client: TestClient, hub: HubContext, county_b: MemberKey
) -> None:
    assert land(client, county_b, arrivals(), "batch")["created"] == 5
    first = sent_messages(hub)
    assert land(client, county_b, arrivals(), "batch")["unchanged"] == 5
    assert sent_messages(hub) == first and len(first) == 8  # no outflows: 4 queries, 1 by prefix

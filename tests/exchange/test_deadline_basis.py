"""Deadlines across Spring Festival 2027, with the year's arrangement loaded and without it.

The arrangement is tests/fixtures/calendar-2027-test.csv (made up for the
tests, shaped like the State Council's notice): 春节 rest days Sat 6 – Sat 13
Feb 2027, make-up working days Sun 31 Jan and Sat 20 Feb; 元旦 1–3 Jan. Without
it the hub falls back to weekends and says so (``weekends_only``); loading it
recomputes the deadlines that moved, with events, audit rows and figures.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent, Change, ExchangeCount, Message, MessageEvent
from tests.exchange.helpers import act, notification_body, post_message, query_body
from tests.fixtures.hub import MemberKey
from tests.holidays.helpers import (
    FIXTURE,
    arrangement_until,
    end_of,
    load_fixture,
    post_calendar,
    shanghai,
)
from tests.records.factories import id_number, inflow


@pytest.fixture(autouse=True)
def _arrangement_until_2026(hub: HubContext) -> None:
    arrangement_until(hub, 2026)  # as chinese-calendar 1.11.0 left it


@pytest.mark.parametrize(
    ("loaded", "urgency", "sent", "due", "basis"),
    [
        # the worked example: 15 days → Tue 9 Feb, inside 春节 → Mon 15 Feb (Sun 14 is a
        # plain Sunday); without the arrangement Tue 9 Feb is an ordinary Tuesday
        (True, "urgent", "2027-01-25 10:00", "2027-02-15", "official"),
        (False, "urgent", "2027-01-25 10:00", "2027-02-09", "weekends_only"),
        # 7 days → Sat 20 Feb, a make-up working day (补班): due that Saturday
        (True, "certificate", "2027-02-13 09:00", "2027-02-20", "official"),
        (False, "certificate", "2027-02-13 09:00", "2027-02-22", "weekends_only"),
        # 15 days → Sun 31 Jan, a make-up working day
        (True, "urgent", "2027-01-16 09:00", "2027-01-31", "official"),
        (False, "urgent", "2027-01-16 09:00", "2027-02-01", "weekends_only"),
        # the example: 30 days from 2 Dec 2026 → Fri 1 Jan 2027, New Year's Day
        (True, "normal", "2026-12-02 10:00", "2027-01-04", "official"),
        (False, "normal", "2026-12-02 10:00", "2027-01-01", "weekends_only"),
    ],
)
def test_query_deadlines_across_spring_festival_2027(
    hub: HubContext, client: TestClient, clock: Clock, county_a: MemberKey, county_b: MemberKey,
    loaded: bool, urgency: str, sent: str, due: str, basis: str,
) -> None:  # fmt: skip
    if loaded:
        load_fixture(hub)
    clock.pin(shanghai(sent))
    accepted = post_message(client, county_b, query_body(to_region="110105", urgency=urgency))
    assert (accepted["deadline_basis"], _moment(accepted["deadline"])) == (basis, end_of(due))
    read = client.get(f"/api/v1/messages/{accepted['id']}", headers=county_a.headers).json()
    assert (read["deadline_basis"], _moment(read["deadline"])) == (basis, end_of(due))
    inbox = client.get("/api/v1/inbox", headers=county_a.headers).json()["items"]
    assert [item["deadline_basis"] for item in inbox] == [basis]


def test_notifications_carry_their_basis(
    hub: HubContext, client: TestClient, clock: Clock, county_a: MemberKey, county_b: MemberKey
) -> None:
    clock.pin(shanghai("2027-01-08 10:00"))  # 30 days → Sun 7 Feb → Mon 8 Feb (weekends)
    before = post_message(client, county_b, notification_body(to_region="110105"))
    load_fixture(hub)
    after = post_message(client, county_b, notification_body(to_region="110105"))
    assert (before["deadline_basis"], _moment(before["deadline"])) == (
        "weekends_only", end_of("2027-02-08"),
    )  # fmt: skip
    official = ("official", end_of("2027-02-15"))  # 春节 to Sat 13, then a plain Sunday
    assert (after["deadline_basis"], _moment(after["deadline"])) == official


@pytest.mark.parametrize("mode", ["single", "batch"])
@pytest.mark.parametrize("loaded", [False, True])
def test_the_inflow_hook_sets_the_basis_on_both_paths(
    hub: HubContext, client: TestClient, clock: Clock, county_b: MemberKey, mode: str,
    loaded: bool,
) -> None:  # fmt: skip
    if loaded:
        load_fixture(hub)
    clock.pin(shanghai("2027-01-10 10:00"))  # 30 days → Tue 9 Feb, inside 春节
    body = inflow(id_number("110105", seq=30))
    if mode == "batch":
        data = (json.dumps(body, ensure_ascii=False) + "\n").encode()
        headers = {**county_b.headers, "Content-Type": "application/x-ndjson"}
        assert (
            client.post("/api/v1/records/batch", content=data, headers=headers).status_code == 200
        )
    else:
        assert (
            client.post("/api/v1/records", json=body, headers=county_b.headers).status_code == 201
        )
    with hub.sessions() as session:
        sent = [(m.kind, m.deadline, m.deadline_basis) for m in session.scalars(select(Message))]
    expected = (
        (end_of("2027-02-15"), "official") if loaded else (end_of("2027-02-09"), "weekends_only")
    )
    assert sorted(sent) == [("notification", *expected), ("query", *expected)]


# -- recomputation on load -------------------------------------------------------------
def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _send(client: TestClient, sender: MemberKey, urgency: str, seq: int) -> str:
    subject = id_number("110105", seq=seq)
    body = query_body(to_region="110105", urgency=urgency, subject_id=subject)
    return str(post_message(client, sender, body)["id"])


def _on_time(client: TestClient, admin: MemberKey) -> tuple[int, int]:
    query = "region=110105&period=2027-01"
    response = client.get(f"/api/v1/metrics/exchange?{query}", headers=admin.headers)
    assert response.status_code == 200, response.text
    queries = response.json()["total"]["queries"]
    return queries["answered"], queries["answered_on_time"]


def _stored_on_time(hub: HubContext) -> int:
    with hub.sessions() as session:
        total = select(func.sum(ExchangeCount.answered_on_time)).where(
            ExchangeCount.role == "responder", ExchangeCount.region == "110105",
            ExchangeCount.period == "2027-01",
        )  # fmt: skip
        return int(session.scalar(total) or 0)


def _messages_before_the_load(
    client: TestClient, clock: Clock, county_a: MemberKey, county_b: MemberKey
) -> dict[str, str]:
    clock.pin(shanghai("2026-12-01 10:00"))
    ids = {"official": _send(client, county_b, "normal", 1)}  # → Thu 31 Dec 2026
    clock.pin(shanghai("2027-01-25 10:00"))
    ids["answered"] = _send(client, county_b, "urgent", 2)  # Tue 9 Feb (fallback)
    ids["open"] = _send(client, county_b, "certificate", 3)  # Mon 1 Feb, same officially
    ids["withdrawn"] = _send(client, county_b, "urgent", 4)
    assert act(client, county_b, ids["withdrawn"], "withdraw").status_code == 200
    clock.pin(shanghai("2027-02-12 10:00"))  # after the fallback deadline, before 15 Feb
    answered = act(client, county_a, ids["answered"], "feedback", result="found")
    assert answered.status_code == 200, answered.text
    return ids


def test_loading_the_year_recomputes_the_fallback_deadlines(
    hub: HubContext, client: TestClient, clock: Clock, county_a: MemberKey, county_b: MemberKey,
    admin_nation: MemberKey,
) -> None:  # fmt: skip
    ids = _messages_before_the_load(client, clock, county_a, county_b)
    assert _on_time(client, admin_nation) == (1, 0)  # answered late, as far as the hub knew
    clock.pin(shanghai("2027-02-13 10:00"), tick=False)
    response = post_calendar(client, admin_nation, FIXTURE.read_bytes())
    assert response.status_code == 200, response.text
    loaded = response.json()
    assert (loaded["messages_recomputed"], loaded["newly_covered"]) == (2, [2027])
    assert _stored_on_time(hub) == 1  # the figures were refreshed in the load's transaction
    assert _on_time(client, admin_nation) == (1, 1)
    with hub.sessions() as session:
        rows = {str(m.id): m for m in session.scalars(select(Message))}
        events = _deadline_events(session)
        audit = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action.like("%calendar%") | AuditEvent.action.like("%deadline%")
            )
        )
        audited = {row.action: row.detail for row in audit}
        feed = session.scalars(select(Change.object_id).where(Change.action == "deadline")).all()
    answered, still_open = rows[ids["answered"]], rows[ids["open"]]
    assert (answered.deadline, answered.deadline_basis) == (end_of("2027-02-15"), "official")
    assert (still_open.deadline, still_open.deadline_basis) == (end_of("2027-02-01"), "official")
    assert answered.updated_at == clock.now()
    assert rows[ids["withdrawn"]].deadline_basis == "weekends_only"  # withdrawn: left alone
    assert rows[ids["official"]].updated_at < shanghai("2027-01-01 00:00")
    assert events[ids["answered"]] == {
        "reason": "calendar loaded",
        "old_deadline": end_of("2027-02-09").astimezone(UTC).isoformat(),
        "new_deadline": end_of("2027-02-15").astimezone(UTC).isoformat(),
        "old_basis": "weekends_only",
        "new_basis": "official",
    }
    assert set(events) == {ids["answered"], ids["open"]}
    assert audited["calendar.load"]["messages_recomputed"] == 2
    recomputed = audited["message.deadline_recomputed"]
    assert sorted(c["id"] for c in recomputed["changes"]) == sorted([ids["answered"], ids["open"]])
    assert sorted(feed) == sorted([ids["answered"], ids["open"]])


def test_the_message_history_shows_the_moved_deadline(
    hub: HubContext, client: TestClient, clock: Clock, county_a: MemberKey, county_b: MemberKey
) -> None:
    clock.pin(shanghai("2027-01-25 10:00"))
    message_id = _send(client, county_b, "urgent", 5)
    clock.pin(shanghai("2027-01-26 10:00"))
    load_fixture(hub)
    read = client.get(f"/api/v1/messages/{message_id}", headers=county_a.headers).json()
    assert (read["deadline_basis"], _moment(read["deadline"])) == ("official", end_of("2027-02-15"))
    moved = [e for e in read["events"] if e["detail"] and "new_deadline" in e["detail"]]
    assert [(e["from_state"], e["to_state"], e["actor"]) for e in moved] == [
        ("submitted", "submitted", "admin:000000:cli")
    ]


def test_a_second_load_of_the_same_file_changes_nothing(
    hub: HubContext, client: TestClient, clock: Clock, county_b: MemberKey
) -> None:
    clock.pin(shanghai("2027-01-25 10:00"))
    _send(client, county_b, "urgent", 6)
    first = load_fixture(hub)
    second = load_fixture(hub)
    assert (first.messages_recomputed, first.counts["added"]) == (1, 34)
    assert (second.messages_recomputed, second.counts) == (
        0, {"added": 0, "changed": 0, "unchanged": 34},
    )  # fmt: skip
    assert second.newly_covered == []
    with hub.sessions() as session:
        assert len(_deadline_events(session)) == 1


def test_a_corrected_day_moves_official_deadlines_too(
    hub: HubContext, client: TestClient, clock: Clock, county_b: MemberKey
) -> None:
    load_fixture(hub)
    clock.pin(shanghai("2027-01-25 10:00"))
    message_id = _send(client, county_b, "urgent", 7)  # official: Mon 15 Feb
    corrected = (
        b"date,kind,name\n2027-02-15,holiday,\xe6\x98\xa5\xe8\x8a\x82\n"  # 春节 one day more
    )
    result = load_fixture(hub, corrected)
    assert result.counts == {"added": 1, "changed": 0, "unchanged": 0}
    assert result.messages_recomputed == 1
    with hub.sessions() as session:
        message = session.get(Message, uuid.UUID(message_id))
        assert message is not None
        assert (message.deadline, message.deadline_basis) == (end_of("2027-02-16"), "official")


def _deadline_events(session: Any) -> dict[str, dict[str, Any]]:
    query = select(MessageEvent).where(MessageEvent.from_state == MessageEvent.to_state)
    return {str(e.message_id): e.detail for e in session.scalars(query)}

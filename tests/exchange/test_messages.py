"""Messages through the API: routing, both directions, the protocol, visibility, bad input."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.exchange import receipts
from tests.exchange.helpers import (
    act,
    id_number,
    notification_body,
    post_message,
    query_body,
    send_query,
)
from tests.fixtures.hub import MemberKey, make_member


@pytest.fixture
def county_c(hub: HubContext) -> MemberKey:
    """Guangzhou Tianhe (440106)."""
    return make_member(hub, role="county", region="440106")


# -- routing ---------------------------------------------------------------------------
def test_query_without_to_region_is_routed_by_the_id_prefix(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    accepted = post_message(client, county_b, query_body(subject_id=id_number("110105")))
    assert accepted["to_region"] == "110105"
    assert accepted["routed_by"] == "id_prefix"
    assert accepted["state"] == "submitted"
    assert receipts.verify_receipt(hub.keyring, accepted["receipt"])
    inbox = client.get("/api/v1/inbox", headers=county_a.headers).json()
    assert [i["id"] for i in inbox["items"]] == [accepted["id"]]


def test_explicit_to_region_wins_over_the_id_prefix(
    client: TestClient, county_b: MemberKey, county_c: MemberKey
) -> None:
    body = query_body(to_region="440106", subject_id=id_number("110105"))
    accepted = post_message(client, county_b, body)
    assert (accepted["to_region"], accepted["routed_by"]) == ("440106", "to_region")


@pytest.mark.parametrize(
    ("to_region", "subject_prefix", "field"),
    [
        (None, "110103", "to_region"),  # 崇文区: abolished 2010, still valid inside IDs
        (None, "110100", "to_region"),  # a prefecture prefix names no county
        ("999999", "110105", "to_region"),  # not in the catalogue
        ("110000", "110105", "to_region"),  # a province
        ("110103", "110105", "to_region"),  # abolished county
        ("11010", "110105", "to_region"),  # not a code
    ],
)
def test_unroutable_messages_are_refused_with_the_field(
    client: TestClient, county_b: MemberKey, to_region: str | None, subject_prefix: str, field: str
) -> None:
    body = query_body(to_region=to_region, subject_id=id_number(subject_prefix))
    response = client.post("/api/v1/messages", json=body, headers=county_b.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == field
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_message_to_your_own_county_is_refused(client: TestClient, county_a: MemberKey) -> None:
    response = client.post(
        "/api/v1/messages", json=query_body(to_region="110105"), headers=county_a.headers
    )
    assert response.status_code == 422
    assert response.json()["field"] == "to_region"


def test_messages_go_both_ways(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    to_origin = send_query(client, county_b, county_a)
    to_residence = str(
        post_message(client, county_a, notification_body(to_region="440305", type_="birth"))["id"]
    )
    a_inbox = client.get("/api/v1/inbox", headers=county_a.headers).json()["items"]
    b_inbox = client.get("/api/v1/inbox", headers=county_b.headers).json()["items"]
    assert [i["id"] for i in a_inbox] == [to_origin]
    assert [i["id"] for i in b_inbox] == [to_residence]
    assert b_inbox[0]["content"]["birth"]["born_on"] == "2026-09-30"


# -- the protocol -----------------------------------------------------------------------
def test_full_cycle_query_pull_answer(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    message_id = send_query(client, county_b, county_a, case_ref="NS-1")
    pulled = client.get("/api/v1/inbox", headers=county_a.headers).json()["items"][0]
    assert pulled["state"] == "delivered" and pulled["delivered_at"]
    assert pulled["content"]["subject"]["id_number"] == id_number("110105")
    answered = act(
        client, county_a, message_id, "feedback", result="found", verified={"name": "张三"}
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["state"] == "answered"
    assert answered.json()["received_at"] == answered.json()["answered_at"]
    sent = client.get("/api/v1/outbox", headers=county_b.headers).json()["items"]
    assert [(s["id"], s["state"], s["feedback_result"]) for s in sent] == [
        (message_id, "answered", "found")
    ]
    read = client.get(f"/api/v1/messages/{message_id}", headers=county_b.headers).json()
    assert [e["to_state"] for e in read["events"]] == [
        "submitted", "delivered", "received", "answered"
    ]  # fmt: skip
    assert read["feedback"]["result"] == "found"
    assert read["feedback"]["verified"] == {"name": "张三"}
    assert all(e["actor"].startswith("county:110105") for e in read["events"][1:])


def test_mismatch_carries_the_differing_fields(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    message_id = send_query(client, county_b, county_a)
    missing = act(client, county_a, message_id, "feedback", result="mismatch")
    assert missing.status_code == 422 and missing.json()["field"] == "differences"
    diff = [{"field": "birth_date", "recorded": "1990-01-01", "reported": "1990-01-02"}]
    ok = act(client, county_a, message_id, "feedback", result="mismatch", differences=diff)
    assert ok.status_code == 200
    read = client.get(f"/api/v1/messages/{message_id}", headers=county_b.headers).json()
    assert read["feedback"]["differences"] == diff


def test_cannot_answer_now_is_not_an_answer(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    message_id = send_query(client, county_b, county_a)
    before = client.get(f"/api/v1/messages/{message_id}", headers=county_b.headers).json()
    response = act(client, county_a, message_id, "feedback", result="cannot_answer_now")
    assert response.status_code == 422 and response.json()["field"] == "result"
    after = client.get(f"/api/v1/messages/{message_id}", headers=county_b.headers).json()
    assert after["state"] == "submitted"
    assert after["deadline"] == before["deadline"]


def test_birth_notification_needs_receipt_and_feedback(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    accepted = post_message(client, county_b, notification_body(to_region="110105", type_="birth"))
    assert act(client, county_a, accepted["id"], "receipt").json()["state"] == "received"
    confirmed = act(client, county_a, accepted["id"], "feedback", result="found")
    assert confirmed.json()["state"] == "answered"


def test_service_notification_takes_a_receipt_only(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    accepted = post_message(client, county_b, notification_body(to_region="110105"))
    assert accepted["deadline"]
    refused = act(client, county_a, accepted["id"], "feedback", result="found")
    assert refused.status_code == 409
    assert act(client, county_a, accepted["id"], "receipt").json()["state"] == "received"
    inbox = client.get("/api/v1/inbox", headers=county_a.headers).json()["items"]
    assert inbox == []  # a received notification leaves the to-do list


def _query_in_state(client: TestClient, a: MemberKey, b: MemberKey, state: str) -> str:
    message_id = send_query(client, b, a)
    steps = {
        "submitted": [],
        "delivered": [("get", a)],
        "received": [("receipt", a)],
        "answered": [("feedback", a)],
        "withdrawn": [("withdraw", b)],
    }[state]
    for verb, who in steps:
        if verb == "get":
            client.get("/api/v1/inbox", headers=who.headers)
        elif verb == "feedback":
            assert act(client, who, message_id, verb, result="not_found").status_code == 200
        else:
            assert act(client, who, message_id, verb).status_code == 200
    return message_id


ILLEGAL = [
    ("received", "receipt"),
    ("answered", "receipt"),
    ("withdrawn", "receipt"),
    ("answered", "feedback"),
    ("withdrawn", "feedback"),
    ("received", "withdraw"),
    ("answered", "withdraw"),
    ("withdrawn", "withdraw"),
]


@pytest.mark.parametrize(("state", "verb"), ILLEGAL)
def test_every_illegal_transition_is_refused_with_409(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, state: str, verb: str
) -> None:
    message_id = _query_in_state(client, county_a, county_b, state)
    actor = county_b if verb == "withdraw" else county_a
    body = {"result": "found"} if verb == "feedback" else {}
    response = act(client, actor, message_id, verb, **body)
    assert response.status_code == 409, response.text
    assert response.json()["detail"]
    read = client.get(f"/api/v1/messages/{message_id}", headers=county_b.headers).json()
    assert read["state"] == state


@pytest.mark.parametrize("state", ["submitted", "delivered"])
def test_legal_withdraw_before_receipt(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, state: str
) -> None:
    message_id = _query_in_state(client, county_a, county_b, state)
    response = act(client, county_b, message_id, "withdraw")
    assert response.json()["state"] == "withdrawn"
    assert client.get("/api/v1/inbox", headers=county_a.headers).json()["items"] == []


@pytest.mark.parametrize("verb", ["receipt", "feedback"])
def test_the_sender_cannot_receive_or_answer_its_own_message(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, verb: str
) -> None:
    message_id = send_query(client, county_b, county_a)
    body = {"result": "found"} if verb == "feedback" else {}
    assert act(client, county_b, message_id, verb, **body).status_code == 404


def test_the_addressee_cannot_withdraw(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    message_id = send_query(client, county_b, county_a)
    assert act(client, county_a, message_id, "withdraw").status_code == 404


# -- visibility -----------------------------------------------------------------------------
def test_another_county_cannot_see_or_answer_a_query(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, county_c: MemberKey
) -> None:
    """A queries C; B sees exactly what it would see for an id that does not exist."""
    message_id = send_query(client, county_a, county_c)
    missing_id = str(uuid.uuid4())
    for target in (message_id, missing_id):
        responses = [
            client.get(f"/api/v1/messages/{target}", headers=county_b.headers),
            act(client, county_b, target, "receipt"),
            act(client, county_b, target, "feedback", result="not_found"),
            act(client, county_b, target, "withdraw"),
        ]
        for response in responses:
            assert response.status_code == 404
            problem = response.json()
            assert problem["detail"] == f"no message {target}"
            assert problem["field"] == "message_id"
    assert client.get("/api/v1/inbox", headers=county_b.headers).json()["items"] == []
    assert client.get("/api/v1/outbox", headers=county_b.headers).json()["items"] == []
    read = client.get(f"/api/v1/messages/{message_id}", headers=county_c.headers).json()
    assert read["state"] == "delivered"


def test_admin_in_scope_sees_metadata_but_no_person_data(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, admin_gd: MemberKey
) -> None:
    message_id = send_query(client, county_b, county_a)
    read = client.get(f"/api/v1/messages/{message_id}", headers=admin_gd.headers)
    assert read.status_code == 200
    assert read.json()["content"] is None and read.json()["state"] == "submitted"
    department = make_member_dept(client, county_b)
    assert (
        client.get(f"/api/v1/messages/{message_id}", headers=department.headers).status_code == 404
    )


def make_member_dept(client: TestClient, county: MemberKey) -> MemberKey:
    hub: HubContext = client.app.state.hub  # type: ignore[attr-defined]
    return make_member(hub, role="department", region=county.region, department="police")


def test_reads_of_person_data_are_audited(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    from exchange_hub.audit import service as audit

    message_id = send_query(client, county_b, county_a)
    client.get("/api/v1/inbox", headers=county_a.headers)
    client.get(f"/api/v1/messages/{message_id}", headers=county_b.headers)
    with hub.sessions() as session:
        events = audit.list_events(session, within="000000")
        actions = [(e.action, e.region) for e in events]
    assert ("inbox.pull", "110105") in actions
    assert ("message.read", "440305") in actions


def test_only_counties_send_messages(
    client: TestClient, county_b: MemberKey, admin_gd: MemberKey
) -> None:
    response = client.post("/api/v1/messages", json=query_body(), headers=admin_gd.headers)
    assert response.status_code == 403


# -- bad input -------------------------------------------------------------------------------
BAD_BODIES = [
    ({"kind": "query", "subject": {"id_number": id_number()}, "purpose": "xx"}, "urgency"),
    ({**query_body(), "type": "birth"}, "type"),
    ({**query_body(), "birth": {"born_on": "2026-01-01"}}, "birth"),
    ({**query_body(urgency="normal"), "certificate": {"number": "1"}}, "certificate"),
    ({**notification_body(to_region="110105"), "type": None}, "type"),
    ({**notification_body(to_region="110105", type_="birth"), "birth": None}, "birth"),
    ({**notification_body(to_region="110105"), "urgency": "urgent"}, "urgency"),
    ({**notification_body(to_region="110105"), "inflow": {"residence_region": "440305"}}, "inflow"),
    ({**query_body(), "unexpected": 1}, "unexpected"),
    ({**query_body(), "purpose": ""}, "purpose"),
    ({**query_body(), "kind": "gossip"}, "kind"),
    (query_body(subject_id="1101051990010112"), "subject.id_number"),
    (query_body(subject_id="11010519901301123X"), "subject.id_number"),
    (query_body(subject_id="99999919900101123X"), "subject.id_number"),
    (query_body(subject_id="1101051990010112A4"), "subject.id_number"),
    ({**query_body(), "subject": {"id_number": id_number(), "phone": "1"}}, "subject.phone"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_messages_are_refused_with_the_field(
    client: TestClient, county_b: MemberKey, body: dict[str, object], field: str
) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post("/api/v1/messages", json=body, headers=county_b.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_wrong_check_character_is_accepted_when_lenient(
    client: TestClient, county_b: MemberKey
) -> None:
    good = id_number("110105")
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert post_message(client, county_b, query_body(subject_id=wrong))["to_region"] == "110105"


def test_legacy_15_digit_number_is_converted(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    post_message(client, county_b, query_body(subject_id="110105491231002"))
    item = client.get("/api/v1/inbox", headers=county_a.headers).json()["items"][0]
    assert item["content"]["subject"]["id_number"] == "11010519491231002X"


def test_malformed_json_and_bad_ids_are_problems(client: TestClient, county_b: MemberKey) -> None:
    headers = {**county_b.headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/messages", content=b"{not json", headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "body"
    response = client.get("/api/v1/messages/not-a-uuid", headers=county_b.headers)
    assert response.status_code == 422 and response.json()["field"] == "message_id"
    response = client.post("/api/v1/messages", json=query_body(), headers={})
    assert response.status_code == 401


def test_members_can_fetch_the_hub_key_to_check_receipts(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    key = client.get("/api/v1/hub-key", headers=county_b.headers).json()
    accepted = post_message(client, county_b, query_body(to_region="110105"))
    assert receipts.verify_receipt_with_key(key["public_key"], accepted["receipt"])
    assert client.get("/api/v1/hub-key").status_code == 401


@pytest.mark.parametrize(
    ("state", "needs_feedback"),
    [("submitted", True), ("delivered", True), ("received", True), ("answered", False),
     ("withdrawn", False)],
)  # fmt: skip
def test_needs_feedback_says_whether_an_answer_is_still_due(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, state: str, needs_feedback: bool
) -> None:
    """Issue 21: an answered query read ``"needs_feedback": true``."""
    message_id = _query_in_state(client, county_a, county_b, state)  # from b to a
    for who in (county_b, county_a):  # the sender first: the addressee's read delivers it
        read = client.get(f"/api/v1/messages/{message_id}", headers=who.headers).json()
        assert read["needs_feedback"] is needs_feedback, read["state"]
        assert read["needs_receipt"] is False  # a query takes no receipt
    outbox = client.get("/api/v1/outbox", headers=county_b.headers).json()["items"]
    assert [i["needs_feedback"] for i in outbox if i["id"] == message_id] == [needs_feedback]


def test_needs_receipt_and_feedback_of_a_birth_notification_follow_its_state(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    accepted = post_message(client, county_b, notification_body(to_region="110105", type_="birth"))
    assert (accepted["needs_receipt"], accepted["needs_feedback"]) == (True, True)
    received = act(client, county_a, accepted["id"], "receipt").json()
    assert (received["needs_receipt"], received["needs_feedback"]) == (False, True)
    answered = act(client, county_a, accepted["id"], "feedback", result="found").json()
    assert (answered["needs_receipt"], answered["needs_feedback"]) == (False, False)
    service = post_message(client, county_b, notification_body(to_region="110105"))
    assert (service["needs_receipt"], service["needs_feedback"]) == (True, False)

"""OWASP API Security Top 10 checks against the hub's object routes and settings.

- API1 BOLA: county A reading, changing or answering county B's records,
  messages and reports gets the very answer a missing id gets (404, same
  problem document apart from the id), and nothing changes;
- API3 mass assignment: state, region, id and time fields in create and
  update bodies are refused or ignored, never applied;
- API4 unbounded resource use: page sizes beyond the maximum are refused (422);
- API7 SSRF: the push-endpoint setting refuses private, loopback (unless the
  operator allows it), link-local and non-allowlisted hosts, and deliveries
  never follow a redirect.

These run in-process on the test database (PostgreSQL in this suite).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange import delivery
from exchange_hub.models import Member, Message, PushDelivery, Record
from tests.fixtures.hub import MemberKey, client_for, make_context, make_member
from tests.reliability.harness import free_port
from tests.reliability.receiver import PushReceiver
from tests.reliability.summary import Figures
from tests.reliability.workload import People, outflow

PEOPLE = People(seed=77)
MOVED_ON = date(2026, 10, 2)
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- helpers ----------------------------------------------------------------------------------
def post_record(client: TestClient, member: MemberKey, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/records", json=body, headers=member.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def post_message(client: TestClient, sender: MemberKey, to: str, kind: str = "query") -> str:
    body: dict[str, Any] = {
        "kind": kind,
        "subject": {"id_number": PEOPLE.born_in(to).id_number},
        "to_region": to,
        "purpose": "verify household registration for public services",
    }
    if kind == "query":
        body["urgency"] = "normal"
    else:
        body.update(
            type="contraception", contraception={"served_on": "2026-10-02", "method": "iud"}
        )
    response = client.post("/api/v1/messages", json=body, headers=sender.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def shape(response: Any) -> tuple[int, str, dict[str, Any]]:
    """Status, content type and problem body with ids and the request path blanked."""
    body = dict(response.json())
    body.pop("instance", None)
    body = {k: UUID_PATTERN.sub("<id>", v) if isinstance(v, str) else v for k, v in body.items()}
    return response.status_code, response.headers.get("content-type", ""), body


def attempt(client: TestClient, member: MemberKey, method: str, path: str, body: Any) -> Any:
    return client.request(method, path, json=body, headers=member.headers)


# -- API1: broken object-level authorisation ------------------------------------------------------
RECORD_ROUTES = [
    ("GET", "/api/v1/records/{id}", None),
    ("GET", "/api/v1/records/{id}/versions", None),
    ("PATCH", "/api/v1/records/{id}", {"person": {"phone": "13800000000"}}),
    ("POST", "/api/v1/records/{id}/deregister", {"reason": "died"}),
]
MESSAGE_ROUTES = [
    ("GET", "/api/v1/messages/{id}", None),
    ("POST", "/api/v1/messages/{id}/receipt", None),
    ("POST", "/api/v1/messages/{id}/feedback", {"result": "not_found"}),
    ("POST", "/api/v1/messages/{id}/withdraw", None),
]
REPORT_ROUTES = [("GET", "/api/v1/reports/{id}", None)]
MEMBER_ROUTES = [
    ("POST", "/api/v1/members/{id}/revoke", None),
    ("POST", "/api/v1/members/{id}/rotate-key", None),
]


def assert_looks_missing(
    client: TestClient, caller: MemberKey, routes: list[Any], object_id: str, figures: Figures
) -> None:
    for method, template, body in routes:
        theirs = attempt(client, caller, method, template.format(id=object_id), body)
        missing = attempt(client, caller, method, template.format(id=uuid.uuid4()), body)
        figures.faults += 1
        assert theirs.status_code == 404, f"{method} {template}: {theirs.status_code} {theirs.text}"
        assert shape(theirs) == shape(missing), f"{method} {template} tells theirs from missing"


@pytest.fixture
def county_c(hub: HubContext) -> MemberKey:
    """Shanghai Pudong (310115)."""
    return make_member(hub, role="county", region="310115")


def test_county_cannot_touch_another_countys_records(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, hub: HubContext, figures: Figures
) -> None:
    theirs = post_record(
        client, county_b, outflow(PEOPLE.born_in("440305"), "440305", "320102", MOVED_ON)
    )
    assert_looks_missing(client, county_a, RECORD_ROUTES, theirs["id"], figures)
    with hub.sessions() as session:
        record = session.get(Record, uuid.UUID(theirs["id"]))
        assert record is not None
        assert (record.status, record.version) == ("active", 1)


def test_county_cannot_read_or_answer_messages_between_others(
    client: TestClient,
    county_a: MemberKey,
    county_b: MemberKey,
    county_c: MemberKey,
    hub: HubContext,
    figures: Figures,
) -> None:
    query = post_message(client, county_c, "440305", "query")
    notice = post_message(client, county_b, "310115", "notification")
    for message_id in (query, notice):
        assert_looks_missing(client, county_a, MESSAGE_ROUTES, message_id, figures)
    with hub.sessions() as session:
        for message_id in (query, notice):
            message = session.get(Message, uuid.UUID(message_id))
            assert message is not None
            assert (message.state, message.feedback_result) == ("submitted", None)


def test_department_cannot_read_another_countys_report(
    client: TestClient, hub: HubContext, figures: Figures
) -> None:
    theirs = make_member(hub, role="department", region="440305", department="police")
    mine = make_member(hub, role="department", region="110105", department="police")
    body = {"department": "police", "region": "440305", "period": "2026-10", "zero": True}
    response = client.post("/api/v1/reports", json=body, headers=theirs.headers)
    assert response.status_code == 201, response.text
    assert_looks_missing(client, mine, REPORT_ROUTES, response.json()["id"], figures)


def test_admin_cannot_manage_members_outside_its_region(
    client: TestClient, hub: HubContext, admin_gd: MemberKey, county_a: MemberKey, figures: Figures
) -> None:
    assert_looks_missing(client, admin_gd, MEMBER_ROUTES, county_a.id, figures)
    with hub.sessions() as session:
        member = session.get(Member, uuid.UUID(county_a.id))
        assert member is not None and member.active


# -- API3: mass assignment ---------------------------------------------------------------------
RECORD_EXTRAS = [
    {"id": "00000000-0000-4000-8000-000000000001"},
    {"status": "deregistered"},
    {"registering_region": "440305"},
    {"other_region": "440305"},
    {"version": 7},
    {"member_id": "00000000-0000-4000-8000-000000000002"},
    {"created_at": "2020-01-01T00:00:00Z"},
    {"key_object": True},
    {"quality": {"id_check_flagged": False}},
]


def test_record_create_ignores_or_refuses_server_fields(
    client: TestClient, county_a: MemberKey, hub: HubContext, figures: Figures
) -> None:
    applied = []
    for extra in RECORD_EXTRAS:
        body = {**outflow(PEOPLE.born_in("110105"), "110105", "440305", MOVED_ON), **extra}
        response = client.post("/api/v1/records", json=body, headers=county_a.headers)
        figures.faults += 1
        assert response.status_code in (201, 422), response.text
        if response.status_code == 422:
            assert response.json()["field"] == next(iter(extra))
            continue
        with hub.sessions() as session:
            record = session.get(Record, uuid.UUID(response.json()["id"]))
            assert record is not None
            if str(record.id) == extra.get("id") or (
                record.status,
                record.registering_region,
                record.version,
            ) != ("active", "110105", 1):
                applied.append(extra)
    assert applied == []


RECORD_PATCHES = [
    {"status": "deregistered"},
    {"kind": "inflow"},
    {"registering_region": "440305"},
    {"id": "00000000-0000-4000-8000-000000000003"},
    {"version": 99},
    {"hukou_region": "440305"},
]


def test_record_update_never_applies_state_region_or_id(
    client: TestClient, county_a: MemberKey, hub: HubContext, figures: Figures
) -> None:
    mine = post_record(
        client, county_a, outflow(PEOPLE.born_in("110105"), "110105", "440305", MOVED_ON)
    )
    for patch in RECORD_PATCHES:
        response = client.patch(
            f"/api/v1/records/{mine['id']}", json=patch, headers=county_a.headers
        )
        figures.faults += 1
        assert response.status_code in (200, 403, 422), f"{patch}: {response.text}"
        with hub.sessions() as session:
            record = session.get(Record, uuid.UUID(mine["id"]))
            assert record is not None
            assert (record.kind, record.status) == ("outflow", "active"), patch
            assert (record.registering_region, record.hukou_region) == ("110105", "110105"), patch


MESSAGE_EXTRAS = [
    {"state": "answered"},
    {"from_region": "440305"},
    {"id": "00000000-0000-4000-8000-000000000004"},
    {"deadline": "2030-01-01T00:00:00Z"},
    {"submitted_at": "2020-01-01T00:00:00Z"},
    {"feedback_result": "found"},
    {"sender_member_id": "00000000-0000-4000-8000-000000000005"},
]


def test_message_create_never_applies_server_fields(
    client: TestClient, county_a: MemberKey, hub: HubContext, figures: Figures
) -> None:
    for extra in MESSAGE_EXTRAS:
        body = {
            "kind": "query",
            "urgency": "normal",
            "subject": {"id_number": PEOPLE.born_in("440305").id_number},
            "to_region": "440305",
            "purpose": "verify household registration for public services",
            **extra,
        }
        response = client.post("/api/v1/messages", json=body, headers=county_a.headers)
        figures.faults += 1
        assert response.status_code in (201, 422), response.text
        if response.status_code == 422:
            continue
        with hub.sessions() as session:
            message = session.get(Message, uuid.UUID(response.json()["id"]))
            assert message is not None
            assert (message.state, message.from_region) == ("submitted", "110105"), extra
            assert message.feedback_result is None and str(message.id) != extra.get("id")


def test_feedback_and_push_setting_never_apply_extra_fields(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, hub: HubContext
) -> None:
    query = post_message(client, county_a, "440305")
    answer = {"result": "found", "state": "withdrawn", "answered_at": "2020-01-01T00:00:00Z"}
    response = client.post(
        f"/api/v1/messages/{query}/feedback", json=answer, headers=county_b.headers
    )
    assert response.status_code in (200, 422), response.text
    escalation = {"url": None, "role": "admin", "region": "000000", "person_data_grant": True}
    response = client.put(
        "/api/v1/members/me/push-endpoint", json=escalation, headers=county_b.headers
    )
    assert response.status_code in (200, 422), response.text
    with hub.sessions() as session:
        message = session.get(Message, uuid.UUID(query))
        member = session.get(Member, uuid.UUID(county_b.id))
        assert message is not None and member is not None
        assert message.state in ("submitted", "answered") and message.withdrawn_at is None
        assert (member.role, member.region, member.person_data_grant) == (
            "county",
            "440305",
            False,
        )


def test_admin_creating_a_member_cannot_set_grant_or_state(
    client: TestClient, admin_gd: MemberKey, hub: HubContext
) -> None:
    body = {
        "name": "深圳市福田区",
        "role": "county",
        "region": "440304",
        "person_data_grant": True,
        "active": False,
        "id": "00000000-0000-4000-8000-000000000006",
        "key_id": "chosen",
    }
    response = client.post("/api/v1/members", json=body, headers=admin_gd.headers)
    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        created = response.json()["member"]
        assert created["person_data_grant"] is False and created["active"] is True
        assert created["id"] != body["id"] and created["key_id"] != "chosen"


# -- API4: unbounded page sizes ------------------------------------------------------------------
HUGE = 1_000_000


def page_requests(max_page: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(who, path, query) of every list with a page size."""
    too_big = max_page + 1
    period = {"region": "440000", "period": "2026-10"}
    county_items = {"region": "440305", "period": "2026-10", "indicator": "query_feedback_rate"}
    return [
        ("county", "/api/v1/inbox", {"limit": HUGE}),
        ("county", "/api/v1/inbox", {"limit": too_big}),
        ("county", "/api/v1/outbox", {"limit": HUGE}),
        ("county", "/api/v1/changes", {"limit": HUGE}),
        ("admin", "/api/v1/push-deliveries", {"limit": HUGE}),
        ("admin", "/api/v1/audit", {"limit": HUGE}),
        ("admin", "/api/v1/reports", {**period, "limit": HUGE}),
        ("admin", "/api/v1/reports", {**period, "limit": too_big}),
        # the items behind a scorecard figure are a county's
        ("admin", "/api/v1/scorecard/items", {**county_items, "limit": HUGE}),
        ("admin", "/api/v1/scorecard/items", {**county_items, "limit": too_big}),
    ]


def test_unbounded_page_sizes_are_refused(
    client: TestClient,
    hub: HubContext,
    county_b: MemberKey,
    admin_gd: MemberKey,
    figures: Figures,
) -> None:
    accepted = []
    for who, path, params in page_requests(hub.settings.max_page_size):
        caller = county_b if who == "county" else admin_gd
        response = client.get(path, params=params, headers=caller.headers)
        figures.faults += 1
        assert response.status_code < 500, response.text
        if response.status_code != 422 or response.json().get("field") != "limit":
            accepted.append(f"{path} limit={params['limit']}: {response.status_code}")
    assert not accepted, "page sizes beyond the maximum were served: " + "; ".join(accepted)


# -- API7: server-side request forgery through the push endpoint --------------------------------
REFUSED_URLS = [
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://172.16.5.4/hook",
    "https://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/",
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://evil.example/hook",
    "https://push.county.example@169.254.169.254/hook",
    "https://push.county.example.evil.example/hook",
    "http://push.county.example/hook",
    "file:///etc/passwd",
    "gopher://push.county.example/_hook",
    "ftp://push.county.example/hook",
    "https://push.county.example/hook#fragment",
    "//push.county.example/hook",
    "https:///hook",
    "not a url",
]


@pytest.fixture
def strict_hub(database_url: str, tmp_path: Path) -> Iterator[HubContext]:
    """A hub whose operator allows one push host, https only (the production shape)."""
    context = make_context(
        database_url, tmp_path / "strict", push_allowed_hosts=["push.county.example"]
    )
    yield context
    context.dispose()


def test_push_endpoint_refuses_ssrf_targets(strict_hub: HubContext, figures: Figures) -> None:
    member = make_member(strict_hub, role="county", region="440305")
    loopback_receiver = f"http://127.0.0.1:{free_port()}/hub/push"
    accepted = []
    with client_for(strict_hub) as client:
        for url in [*REFUSED_URLS, loopback_receiver]:
            response = client.put(
                "/api/v1/members/me/push-endpoint", json={"url": url}, headers=member.headers
            )
            figures.faults += 1
            if response.status_code != 422 or response.json().get("field") != "url":
                accepted.append(f"{url}: {response.status_code}")
        allowed = client.put(
            "/api/v1/members/me/push-endpoint",
            json={"url": "https://push.county.example/hook"},
            headers=member.headers,
        )
        assert allowed.status_code == 200, allowed.text
    assert accepted == []
    with strict_hub.sessions() as session:
        stored = session.get(Member, uuid.UUID(member.id))
        assert stored is not None and stored.push_url == "https://push.county.example/hook"


@pytest.fixture
def loopback_hub(database_url: str, tmp_path: Path) -> Iterator[HubContext]:
    """The test shape: plain http to 127.0.0.1 allowed, nothing else."""
    context = make_context(
        database_url,
        tmp_path / "loopback",
        push_allowed_hosts=["127.0.0.1"],
        push_allow_http=True,
        push_retry_base_seconds=0.01,
        push_retry_window_seconds=1,
    )
    yield context
    context.dispose()


def test_push_delivery_never_follows_a_redirect(loopback_hub: HubContext, figures: Figures) -> None:
    target = PushReceiver()
    bouncer = PushReceiver(redirect_to=target.url)
    target.up()
    bouncer.up()
    try:
        sender = make_member(loopback_hub, role="county", region="110105")
        recipient = make_member(loopback_hub, role="county", region="440305")
        with client_for(loopback_hub) as client:
            response = client.put(
                "/api/v1/members/me/push-endpoint",
                json={"url": bouncer.url},
                headers=recipient.headers,
            )
            assert response.status_code == 200, response.text
            post_message(client, sender, "440305")
        delivery.drain(
            loopback_hub.sessions, loopback_hub.settings, loopback_hub.keyring, worker="owasp"
        )
        figures.faults += 1
        assert len(bouncer.pushes) >= 1
        assert target.pushes == [], "the hub followed a redirect"
        with transaction(loopback_hub.sessions) as session:
            states = session.scalars(select(PushDelivery.state)).all()
            errors = session.scalars(select(PushDelivery.last_error)).all()
        assert "delivered" not in states
        assert any("302" in (e or "") for e in errors)
    finally:
        bouncer.down()
        target.down()

"""Push delivery to a member's endpoint: signed, retried with back-off, never lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.exchange import delivery
from exchange_hub.models import Message, MessageEvent, PushDelivery
from tests.exchange.helpers import send_query
from tests.exchange.receiver import Receiver, running_receiver
from tests.fixtures.hub import MemberKey, make_context, make_member


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[HubContext]:
    """A hub allowed to push over plain HTTP to loopback, with a short retry window."""
    context = make_context(
        database_url,
        tmp_path / "data",
        push_allowed_hosts=["127.0.0.1", "push.county.example"],
        push_allow_http=True,
        push_retry_base_seconds=2.0,
        push_retry_window_seconds=600,
        # The receivers answer at once; a loaded machine may still schedule their threads
        # seconds late, and a timed-out push would count as a retry the test did not ask for.
        push_timeout_seconds=60.0,
    )
    yield context
    context.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(Receiver(fail_first=2)) as running:
        yield running


def register(client: TestClient, member: MemberKey, url: str | None) -> object:
    return client.put("/api/v1/members/me/push-endpoint", json={"url": url}, headers=member.headers)


def run_pass(hub: HubContext, at: object, worker: str = "w1") -> delivery.DeliveryStats:
    return delivery.drain(hub.sessions, hub.settings, hub.keyring, worker=worker, now=at)  # type: ignore[arg-type]


def test_push_is_retried_delivered_once_and_signed(
    client: TestClient,
    hub: HubContext,
    county_a: MemberKey,
    county_b: MemberKey,
    receiver: Receiver,
) -> None:
    assert register(client, county_a, receiver.url).status_code == 200  # type: ignore[attr-defined]
    message_id = send_query(client, county_b, county_a)
    start = hub_clock.now()
    assert run_pass(hub, start).retried == 1  # attempt 1: 503
    assert run_pass(hub, start).claimed == 0  # not due again yet (back-off)
    assert run_pass(hub, start + timedelta(seconds=5)).retried == 1  # attempt 2: 503
    assert run_pass(hub, start + timedelta(seconds=60)).delivered == 1  # attempt 3: 200
    assert run_pass(hub, start + timedelta(hours=2)).claimed == 0
    assert [r.status for r in receiver.requests] == [503, 503, 200]
    accepted = receiver.accepted()[0]
    public_key = hub.keyring.hub_public_key()["public_key"]
    assert delivery.verify_push(public_key, accepted.path, accepted.headers, accepted.body)
    assert not delivery.verify_push(
        public_key, accepted.path, accepted.headers, accepted.body + b" "
    )
    document = json.loads(accepted.body)
    assert document["id"] == message_id and document["content"]["subject"]["id_number"]
    with hub.sessions() as session:
        row = session.scalars(select(PushDelivery)).one()
        assert (row.state, row.attempts) == ("delivered", 3)
        message = session.get(Message, document["id"] and row.message_id)
        assert message is not None and message.state == "delivered"
        events = session.scalars(
            select(MessageEvent).where(MessageEvent.to_state == "delivered")
        ).all()
        assert [e.actor for e in events] == ["hub:push"]
    inbox = client.get("/api/v1/inbox", headers=county_a.headers).json()["items"]
    assert [i["id"] for i in inbox] == [message_id]  # still in the to-do list


def test_a_push_that_keeps_failing_is_marked_failed_and_stays_in_the_inbox(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    admin = make_member(hub, role="admin", region="110000")
    with running_receiver(Receiver(fail_always=True)) as failing:
        register(client, county_a, failing.url)
        message_id = send_query(client, county_b, county_a)
        moment = hub_clock.now()
        for _ in range(30):
            run_pass(hub, moment)
            moment += timedelta(seconds=120)
    failed = client.get("/api/v1/push-deliveries?state=failed", headers=admin.headers).json()
    assert [(i["message_id"], i["state"]) for i in failed["items"]] == [(message_id, "failed")]
    assert failed["items"][0]["attempts"] >= 3 and failed["items"][0]["last_error"] == "HTTP 503"
    scrape = client.get("/metrics", headers=admin.headers).text
    assert "hub_push_failures 1.0" in scrape, "the gauge counts the pushes given up"
    other_admin = make_member(hub, role="admin", region="440000")
    hidden = client.get("/api/v1/push-deliveries?state=failed", headers=other_admin.headers)
    assert hidden.json()["items"] == []
    inbox = client.get("/api/v1/inbox", headers=county_a.headers).json()["items"]
    assert [i["id"] for i in inbox] == [message_id]
    with running_receiver(Receiver()) as healthy:
        register(client, county_a, healthy.url)
        requeued = client.post("/api/v1/push-deliveries/redrive", headers=admin.headers)
        assert requeued.json() == {"requeued": 1}
        assert run_pass(hub, hub_clock.now()).delivered == 1
        assert len(healthy.accepted()) == 1


def test_redirects_are_not_followed(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    with (
        running_receiver(Receiver()) as elsewhere,
        running_receiver(Receiver(redirect_to=elsewhere.url)) as redirecting,
    ):
        register(client, county_a, redirecting.url)
        send_query(client, county_b, county_a)
        stats = run_pass(hub, hub_clock.now())
        assert stats.retried == 1 and stats.errors == ["HTTP 302"]
        assert elsewhere.requests == []


def test_withdrawn_message_is_not_pushed(
    client: TestClient,
    hub: HubContext,
    county_a: MemberKey,
    county_b: MemberKey,
    receiver: Receiver,
) -> None:
    register(client, county_a, receiver.url)
    message_id = send_query(client, county_b, county_a)
    client.post(f"/api/v1/messages/{message_id}/withdraw", headers=county_b.headers)
    assert run_pass(hub, hub_clock.now()).cancelled == 1
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/hook",  # not on the allowlist
        "ftp://push.county.example/x",
        "https://user:secret@push.county.example/x",
        "https://push.county.example/x#frag",
        "not a url",
        "http://push.county.example/x",  # plain http off loopback
    ],
)
def test_push_endpoints_must_be_https_on_the_allowlist(
    client: TestClient, county_a: MemberKey, url: str
) -> None:
    response = register(client, county_a, url)
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    assert response.json()["field"] == "url"  # type: ignore[attr-defined]


def test_allowed_https_endpoint_is_stored_and_can_be_removed(
    client: TestClient, county_a: MemberKey, admin_nation: MemberKey
) -> None:
    stored = register(client, county_a, "https://PUSH.county.example/hub")
    assert stored.json()["push_url"] == "https://push.county.example/hub"  # type: ignore[attr-defined]
    assert register(client, county_a, None).json()["push_url"] is None  # type: ignore[attr-defined]
    assert register(client, admin_nation, "https://push.county.example/x").status_code == 403  # type: ignore[attr-defined]


def test_plain_http_to_loopback_needs_the_test_switch(database_url: str, tmp_path: Path) -> None:
    from exchange_hub.exchange.push_urls import PushUrlError, check_push_url

    strict = make_context(database_url, tmp_path / "strict", push_allowed_hosts=["127.0.0.1"])
    try:
        with pytest.raises(PushUrlError, match="https"):
            check_push_url("http://127.0.0.1:8080/x", strict.settings)
    finally:
        strict.dispose()

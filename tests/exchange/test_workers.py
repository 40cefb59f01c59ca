"""Two workers drain 2,000 queued pushes (ten members) concurrently: each is delivered
exactly once, and each member receives its items in the order they were queued.

On PostgreSQL the claims race for real (``FOR UPDATE SKIP LOCKED``); on SQLite
the guarded ``UPDATE … RETURNING`` claims run under the database write lock,
so the test shows the claims stay atomic there too, with less real overlap.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange import delivery, service
from exchange_hub.exchange.schemas import MessageCreate
from exchange_hub.members import service as members
from exchange_hub.models import PushDelivery
from tests.exchange.helpers import id_number, query_body
from tests.exchange.receiver import Receiver, running_receiver
from tests.fixtures.hub import make_context

ITEMS = 2_000
# Each member's pushes go one at a time, in order; the workers overlap across members.
ORIGINS = ("110101", "110102", "110105", "110106", "110107",
           "110108", "110109", "110111", "110112", "110113")  # fmt: skip


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[HubContext]:
    context = make_context(
        database_url,
        tmp_path / "data",
        push_allowed_hosts=["127.0.0.1"],
        push_allow_http=True,
        push_batch_size=3,  # fewer than the members, so both workers find heads to claim
    )
    yield context
    context.dispose()


def queue_items(hub: HubContext, push_url: str) -> None:
    with transaction(hub.sessions) as session:
        sender = members.caller_of(
            members.add_member(session, name="dest", role="county", region="440305").member
        )
        for region in ORIGINS:
            origin = members.add_member(
                session, name=f"origin {region}", role="county", region=region
            )
            origin.member.push_url = push_url
        session.flush()  # the push endpoints exist before any message is queued
        for region in ORIGINS:
            payload = MessageCreate.model_validate(
                query_body(to_region=region, subject_id=id_number(region))
            )
            for _ in range(ITEMS // len(ORIGINS)):
                service.submit_message(session, sender, payload=payload)


def test_two_workers_drain_2000_items_without_double_delivery(hub: HubContext) -> None:
    with running_receiver(Receiver()) as receiver:
        queue_items(hub, receiver.url)
        totals: dict[str, delivery.DeliveryStats] = {}

        def work(name: str) -> None:
            totals[name] = delivery.drain(
                hub.sessions, hub.settings, hub.keyring, worker=name, now=hub_clock.now()
            )

        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    seen = Counter(r.headers["X-Hub-Delivery"] for r in receiver.requests)
    assert len(seen) == ITEMS
    assert max(seen.values()) == 1, "an item was delivered twice"
    assert sum(t.delivered for t in totals.values()) == ITEMS
    assert all(t.delivered > 0 for t in totals.values()), totals
    with hub.sessions() as session:
        states = dict(
            session.execute(
                select(PushDelivery.state, func.count()).group_by(PushDelivery.state)
            ).all()
        )
    assert states == {"delivered": ITEMS}
    with hub.sessions() as session:
        owner = dict(session.execute(select(PushDelivery.id, PushDelivery.member_id)).all())
    arrivals: dict[object, list[int]] = {}
    for request in receiver.requests:
        delivery_id = int(request.headers["X-Hub-Delivery"])
        arrivals.setdefault(owner[delivery_id], []).append(delivery_id)
    assert len(arrivals) == len(ORIGINS)
    for sequence in arrivals.values():
        assert sequence == sorted(sequence), "a member received its pushes out of order"


def test_an_expired_lease_is_taken_over_and_a_stale_outcome_is_ignored(hub: HubContext) -> None:
    """A worker that died after claiming loses its items once the lease expires."""
    with running_receiver(Receiver()) as receiver:
        with transaction(hub.sessions) as session:
            origin = members.add_member(session, name="o", role="county", region="110105")
            origin.member.push_url = receiver.url
            sender = members.caller_of(
                members.add_member(session, name="d", role="county", region="440305").member
            )
            payload = MessageCreate.model_validate(query_body(to_region="110105"))
            service.submit_message(session, sender, payload=payload)
        now = hub_clock.now()
        dead = delivery.claim_batch(hub.sessions, hub.settings, worker="dead", now=now)
        assert len(dead) == 1
        assert delivery.claim_batch(hub.sessions, hub.settings, worker="w2", now=now) == []
        later = now + delivery.timedelta(seconds=hub.settings.push_lease_seconds + 1)
        assert (
            delivery.deliver_due(
                hub.sessions, hub.settings, hub.keyring, worker="w2", now=later
            ).delivered
            == 1
        )
        with transaction(hub.sessions) as session:
            stale = delivery.record_outcome(session, hub.settings, dead[0], "boom", later)
        assert stale is None
        assert len(receiver.accepted()) == 1

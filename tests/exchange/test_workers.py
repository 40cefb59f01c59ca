"""Two workers drain 2,000 queued pushes (ten members) concurrently: each is delivered
exactly once, and each member receives its items in the order they were queued.

On PostgreSQL the claims race for real (``FOR UPDATE SKIP LOCKED``); on SQLite
the claim's ``SELECT`` and ``UPDATE`` run under the database write lock (``BEGIN
IMMEDIATE``), so the test shows the claims stay atomic there too, with less real
overlap. The test waits for the workers to stop on their own, however slow a loaded
machine makes them; only a stall (no push arriving for minutes) fails it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
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


STALL_SECONDS = 300
"""The test waits for the workers to stop by themselves (a drain ends when nothing is
claimable), for as long as pushes keep arriving: a loaded machine only makes the drain
slower. Five minutes without a single new push is a hang, reported with the queue left."""


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[HubContext]:
    context = make_context(
        database_url,
        tmp_path / "data",
        push_allowed_hosts=["127.0.0.1"],
        push_allow_http=True,
        push_batch_size=3,  # fewer than the members, so both workers find heads to claim
        # The receiver thread answers at once, but a starved machine may schedule it late;
        # a timed-out push is (rightly) retried after its back-off, beyond this one run.
        push_timeout_seconds=120,
    )
    yield context
    context.dispose()


def queue_items(
    hub: HubContext,
    push_url: str,
    *,
    origins: tuple[str, ...] = ORIGINS,
    per_origin: int = ITEMS // len(ORIGINS),
) -> None:
    """``per_origin`` pushes to each origin county, queued member after member."""
    with transaction(hub.sessions) as session:
        sender = members.caller_of(
            members.add_member(session, name="dest", role="county", region="440305").member
        )
        for region in origins:
            origin = members.add_member(
                session, name=f"origin {region}", role="county", region=region
            )
            origin.member.push_url = push_url
        session.flush()  # the push endpoints exist before any message is queued
        for region in origins:
            payload = MessageCreate.model_validate(
                query_body(to_region=region, subject_id=id_number(region))
            )
            for _ in range(per_origin):
                service.submit_message(session, sender, payload=payload)


def queue_report(hub: HubContext) -> str:
    """What is left in the outbox, to explain a failure: counts by state, the first rows."""
    with hub.sessions() as session:
        states = session.execute(
            select(PushDelivery.state, func.count()).group_by(PushDelivery.state)
        ).all()
        left = session.scalars(
            select(PushDelivery)
            .where(PushDelivery.state != "delivered")
            .order_by(PushDelivery.id)
            .limit(10)
        ).all()
    rows = [
        f"#{r.id} {r.region} {r.state} attempts={r.attempts} next={r.next_attempt_at}"
        f" claimed_by={r.claimed_by} until={r.claimed_until} error={r.last_error}"
        for r in left
    ]
    return f"states {dict(states)}; first undelivered: {rows}"


def run_workers(
    hub: HubContext, receiver: Receiver, names: list[str]
) -> dict[str, delivery.DeliveryStats]:
    """Drain concurrently, one thread per worker; wait until every worker has stopped."""
    totals: dict[str, delivery.DeliveryStats] = {}
    crashes: dict[str, BaseException] = {}
    now = hub_clock.now()

    def work(name: str) -> None:
        try:
            totals[name] = delivery.drain(
                hub.sessions, hub.settings, hub.keyring, worker=name, now=now
            )
        except BaseException as exc:  # reported below, with the queue it left
            crashes[name] = exc

    # Daemon threads: a worker that hangs must not keep the test run alive after it failed.
    threads = [threading.Thread(target=work, args=(name,), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    wait_while_delivering(threads, receiver, hub)
    assert not crashes, f"a worker crashed: {crashes!r}; {queue_report(hub)}"
    return totals


def wait_while_delivering(
    threads: list[threading.Thread], receiver: Receiver, hub: HubContext
) -> None:
    """Join the workers; fail only if no new push arrived for ``STALL_SECONDS``."""
    arrived, last_progress = len(receiver.accepted()), time.monotonic()
    while any(thread.is_alive() for thread in threads):
        next(thread for thread in threads if thread.is_alive()).join(timeout=5)
        if len(receiver.accepted()) > arrived:
            arrived, last_progress = len(receiver.accepted()), time.monotonic()
        elif time.monotonic() - last_progress > STALL_SECONDS:
            pytest.fail(
                f"the workers are still running but no push arrived for {STALL_SECONDS} s"
                f" ({arrived} arrived): {queue_report(hub)}"
            )


def test_two_workers_drain_2000_items_without_double_delivery(hub: HubContext) -> None:
    with running_receiver(Receiver()) as receiver:
        queue_items(hub, receiver.url)
        totals = run_workers(hub, receiver, ["w1", "w2"])
    seen = Counter(r.headers["X-Hub-Delivery"] for r in receiver.requests)
    errors = {name: t.errors[:3] for name, t in totals.items() if t.errors}
    assert len(seen) == ITEMS, f"push errors {errors}; {queue_report(hub)}"
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


def pushes_by_state(hub: HubContext) -> dict[str, list[str]]:
    """The origin regions whose push is in each state."""
    with hub.sessions() as session:
        rows = session.execute(
            select(PushDelivery.state, PushDelivery.region).order_by(PushDelivery.id)
        ).all()
    by_state: dict[str, list[str]] = {}
    for state, region in rows:
        by_state.setdefault(state, []).append(region)
    return by_state


def test_a_pass_of_failures_does_not_end_the_run(hub: HubContext) -> None:
    """The first batch (three members' heads) all fails; the items of the other members
    are due behind it and the same run delivers them instead of leaving them waiting."""
    with running_receiver(Receiver(fail_first=3)) as receiver:
        queue_items(hub, receiver.url, origins=ORIGINS[:5], per_origin=1)
        now = hub_clock.now()
        stats = delivery.drain(hub.sessions, hub.settings, hub.keyring, worker="w1", now=now)
    assert (stats.retried, stats.delivered) == (3, 2)
    assert pushes_by_state(hub) == {"pending": list(ORIGINS[:3]), "delivered": list(ORIGINS[3:5])}
    with hub.sessions() as session:
        retries = session.scalars(
            select(PushDelivery.next_attempt_at).where(PushDelivery.state == "pending")
        ).all()
    assert all(moment > now for moment in retries), "a failed push is retried after a back-off"


def test_an_endpoint_that_is_down_does_not_keep_the_run_spinning(
    database_url: str, tmp_path: Path
) -> None:
    """With no back-off at all a failed push is due again at once; the run still ends
    when a pass only re-tried what it had already tried."""
    no_back_off = make_context(
        database_url,
        tmp_path / "no-back-off",
        push_allowed_hosts=["127.0.0.1"],
        push_allow_http=True,
        push_retry_base_seconds=0,
    )
    try:
        with running_receiver(Receiver(fail_always=True)) as receiver:
            queue_items(no_back_off, receiver.url, origins=ORIGINS[:1], per_origin=1)
            stats = delivery.drain(
                no_back_off.sessions,
                no_back_off.settings,
                no_back_off.keyring,
                worker="w1",
                now=hub_clock.now(),
            )
        assert (stats.claimed, stats.retried, len(receiver.requests)) == (2, 2, 2)
    finally:
        no_back_off.dispose()


def test_a_batch_hands_back_what_its_lease_cannot_cover(
    hub: HubContext, clock: hub_clock.Clock
) -> None:
    """An endpoint that takes a minute per push uses up the batch's two-minute lease:
    the items a send no longer fits in go back to the queue unsent (another worker may
    take an expired lease over, and both would send), and later passes deliver them."""
    assert (hub.settings.push_lease_seconds, hub.settings.push_timeout_seconds) == (120, 120)
    slow = Receiver(on_request=lambda: clock.advance(timedelta(seconds=60)))
    with running_receiver(slow) as receiver:
        queue_items(hub, receiver.url, origins=ORIGINS[:3], per_origin=1)
        first = delivery.deliver_due(hub.sessions, hub.settings, hub.keyring, worker="w1")
        assert (first.delivered, first.released) == (1, 2)
        assert pushes_by_state(hub) == {"delivered": [ORIGINS[0]], "pending": list(ORIGINS[1:3])}
        rest = delivery.drain(hub.sessions, hub.settings, hub.keyring, worker="w1")
    assert (rest.delivered, rest.released) == (2, 1)
    seen = Counter(r.headers["X-Hub-Delivery"] for r in receiver.requests)
    assert len(seen) == 3 and max(seen.values()) == 1

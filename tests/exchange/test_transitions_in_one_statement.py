"""The transitions that read and write a message in one statement (issue 18): an inbox pull
of ``submitted`` items and an answer. They record exactly the steps of the slower path,
and while another transaction moves the same message they wait for it and then answer
as the slower path would (PostgreSQL: SQLite writers take turns anyway).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import Conflict
from exchange_hub.exchange import inbox, service
from exchange_hub.exchange.schemas import FeedbackCreate, MessageCreate
from exchange_hub.models import Change, Message, MessageEvent
from exchange_hub.scope import Caller
from tests.exchange.helpers import query_body
from tests.fixtures.hub import MemberKey

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
FOUND = FeedbackCreate(result="found")


def _caller(member: MemberKey) -> Caller:
    return Caller(uuid.UUID(member.id), "system", "county", member.region)


def _send(hub: HubContext, sender: MemberKey, to: MemberKey) -> uuid.UUID:
    payload = MessageCreate.model_validate(query_body(to_region=to.region))
    with transaction(hub.sessions) as session:
        return service.submit_message(session, _caller(sender), payload=payload).id


def _pull(session: Session, member: MemberKey) -> list[uuid.UUID]:
    page = inbox.pull_inbox(session, _caller(member), state="submitted", limit=20)
    return [item.id for item in page.items]


def _answer(session: Session, member: MemberKey, message_id: uuid.UUID) -> str:
    return service.answer(session, _caller(member), message_id=message_id, feedback=FOUND).state


def _history(hub: HubContext, message_id: uuid.UUID) -> list[tuple[str | None, str, datetime]]:
    with hub.sessions() as session:
        query = select(MessageEvent).where(MessageEvent.message_id == message_id)
        events = session.scalars(query.order_by(MessageEvent.id))
        return [(e.from_state, e.to_state, e.at) for e in events]


def _feed(hub: HubContext, message_id: uuid.UUID) -> list[str]:
    with hub.sessions() as session:
        query = select(Change.action).where(Change.object_id == str(message_id))
        return list(session.scalars(query.order_by(Change.seq)))


@pytest.mark.parametrize("before", ["submitted", "delivered", "received"])
def test_an_answer_records_every_step_it_takes_and_keeps_earlier_stamps(
    hub: HubContext, clock: Clock, county_a: MemberKey, county_b: MemberKey, before: str
) -> None:
    clock.pin(T0, tick=False)
    message_id = _send(hub, county_b, county_a)
    clock.pin(T1 := T0 + timedelta(hours=1), tick=False)
    with transaction(hub.sessions) as session:
        if before == "delivered":
            assert _pull(session, county_a) == [message_id]
        elif before == "received":
            service.acknowledge(session, _caller(county_a), message_id=message_id)
    clock.pin(T2 := T0 + timedelta(hours=2), tick=False)
    with transaction(hub.sessions) as session:
        assert _answer(session, county_a, message_id) == "answered"

    delivered, received = {"submitted": (T2, T2), "delivered": (T1, T2), "received": (T1, T1)}[
        before
    ]
    assert _history(hub, message_id) == [
        (None, "submitted", T0), ("submitted", "delivered", delivered),
        ("delivered", "received", received), ("received", "answered", T2),
    ]  # fmt: skip
    assert _feed(hub, message_id) == ["submitted", "delivered", "received", "answered"]
    with hub.sessions() as session:
        message = session.get_one(Message, message_id)
        stamps = [message.delivered_at, message.received_at, message.answered_at]
        assert stamps == [delivered, received, T2]
        assert message.feedback_result == "found"


@pytest.fixture
def _postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE)")


def _while_held(
    hub: HubContext, first: Callable[[Session], Any], second: Callable[[Session], Any]
) -> Future[Any]:
    """``first`` in a transaction held open while ``second`` starts in another (and must
    wait for it); then ``first`` commits. The future of ``second``, done."""
    holding = hub.sessions()
    try:
        first(holding)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(_in_transaction, hub, second)
            assert not _done_within(waiting, 0.5)  # waits for the first to commit
            holding.commit()
            _done_within(waiting, 30)
    finally:
        holding.close()
    return waiting


def _in_transaction(hub: HubContext, work: Callable[[Session], Any]) -> Any:
    with transaction(hub.sessions) as session:
        return work(session)


def _done_within(future: Future[Any], seconds: float) -> bool:
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    return done.wait(seconds)


ANSWERED = [(None, "submitted"), ("submitted", "delivered"), ("delivered", "received"),
            ("received", "answered")]  # fmt: skip
WAITED_FOR = {
    # the other transaction's step: the waiting answer's outcome, and the message's history
    "feedback": ("409: cannot answer: feedback was already given", ANSWERED),
    "withdraw": (
        "409: cannot answer: the sender withdrew",
        [(None, "submitted"), ("submitted", "withdrawn")],
    ),
    "receipt": ("answered", ANSWERED),  # and no second delivered or received event
}


@pytest.mark.usefixtures("_postgres_only")
@pytest.mark.parametrize("step", list(WAITED_FOR))
def test_an_answer_waits_for_another_step_then_answers_as_after_it(
    hub: HubContext, county_a: MemberKey, county_b: MemberKey, step: str
) -> None:
    message_id = _send(hub, county_b, county_a)
    steps = {
        "feedback": lambda s: _answer(s, county_a, message_id),
        "withdraw": lambda s: service.withdraw(s, _caller(county_b), message_id=message_id),
        "receipt": lambda s: service.acknowledge(s, _caller(county_a), message_id=message_id),
    }
    waiting = _while_held(hub, steps[step], lambda s: _answer(s, county_a, message_id))
    try:
        outcome = waiting.result()
    except Conflict as refused:
        outcome = f"409: {refused.detail}"
    expected, history = WAITED_FOR[step]
    assert outcome.startswith(expected), outcome
    assert [(before, to) for before, to, _at in _history(hub, message_id)] == history
    assert _feed(hub, message_id) == [to for _before, to in history]


@pytest.mark.usefixtures("_postgres_only")
def test_two_pulls_at_once_hand_each_message_out_once(
    hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    sent = sorted(_send(hub, county_b, county_a) for _ in range(3))
    first: list[uuid.UUID] = []
    second = _while_held(
        hub, lambda s: first.extend(_pull(s, county_a)), lambda s: _pull(s, county_a)
    )
    assert (sorted(first), second.result()) == (sent, [])
    for message_id in sent:
        assert [to for _f, to, _at in _history(hub, message_id)] == ["submitted", "delivered"]

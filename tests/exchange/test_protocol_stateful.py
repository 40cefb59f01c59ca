"""A hypothesis state machine drives the protocol between two counties and a bystander.

After every step the hub must agree with a simple model: the outcome of each
call (done, 404, 409), at most one final feedback per message, and counters
equal to rows (states, transition events, change-feed entries).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import Conflict, NotFound
from exchange_hub.exchange import inbox, service
from exchange_hub.exchange.schemas import FeedbackCreate, MessageCreate
from exchange_hub.models import Change, Message, MessageEvent
from exchange_hub.scope import Caller
from tests.exchange.helpers import id_number, notification_body, query_body
from tests.fixtures.hub import make_member

COUNTIES = ("110105", "440305", "440106")
KINDS = [
    ("query", "urgent"),
    ("query", "normal"),
    ("query", "certificate"),
    ("notification", "birth"),
    ("notification", "health_check"),
    ("notification", "other"),
]
RESULTS = ["found", "found_inactive", "not_found", "multiple_candidates"]


@dataclass
class Model:
    id: uuid.UUID
    sender: str
    to: str
    needs_feedback: bool
    state: str = "submitted"
    events: int = 1
    feedbacks: int = 0


def _callers(hub: HubContext) -> dict[str, Caller]:
    callers = {}
    for region in COUNTIES:
        member = make_member(hub, role="county", region=region)
        callers[region] = Caller(uuid.UUID(member.id), f"c{region}", "county", region)
    return callers


def build_machine(hub: HubContext) -> type[RuleBasedStateMachine]:
    callers = _callers(hub)

    class Protocol(RuleBasedStateMachine):
        messages = Bundle("messages")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[uuid.UUID, Model] = {}

        def outcome(self, call) -> str:  # type: ignore[no-untyped-def]
            try:
                with transaction(hub.sessions) as session:
                    call(session)
            except NotFound:
                return "404"
            except Conflict:
                return "409"
            return "ok"

        @rule(target=messages, pair=st.permutations(COUNTIES[:2]), kind=st.sampled_from(KINDS))
        def send(self, pair: list[str], kind: tuple[str, str]) -> uuid.UUID:
            sender, to = pair
            subject = id_number(to)
            body = (
                query_body(to_region=to, urgency=kind[1], subject_id=subject)
                if kind[0] == "query"
                else notification_body(to_region=to, type_=kind[1], subject_id=subject)
            )
            with transaction(hub.sessions) as session:
                accepted = service.submit_message(
                    session, callers[sender], payload=MessageCreate.model_validate(body)
                )
            needs_feedback = kind[0] == "query" or kind[1] == "birth"
            self.model[accepted.id] = Model(accepted.id, sender, to, needs_feedback)
            return accepted.id

        @rule(message=messages, actor=st.sampled_from(COUNTIES))
        def receipt(self, message: uuid.UUID, actor: str) -> None:
            m = self.model[message]
            got = self.outcome(lambda s: service.acknowledge(s, callers[actor], message_id=message))
            if actor != m.to:
                assert got == "404"
            elif m.state in ("received", "answered", "withdrawn"):
                assert got == "409"
            else:
                assert got == "ok"
                m.events += 2 if m.state == "submitted" else 1
                m.state = "received"

        @rule(message=messages, actor=st.sampled_from(COUNTIES), result=st.sampled_from(RESULTS))
        def feedback(self, message: uuid.UUID, actor: str, result: str) -> None:
            m = self.model[message]
            answer = FeedbackCreate(result=result)  # type: ignore[arg-type]
            got = self.outcome(
                lambda s: service.answer(s, callers[actor], message_id=message, feedback=answer)
            )
            if actor != m.to:
                assert got == "404"
            elif m.state in ("answered", "withdrawn") or not m.needs_feedback:
                assert got == "409"
            else:
                assert got == "ok"
                m.events += {"submitted": 3, "delivered": 2, "received": 1}[m.state]
                m.state, m.feedbacks = "answered", m.feedbacks + 1

        @rule(message=messages, actor=st.sampled_from(COUNTIES))
        def withdraw(self, message: uuid.UUID, actor: str) -> None:
            m = self.model[message]
            got = self.outcome(lambda s: service.withdraw(s, callers[actor], message_id=message))
            if actor != m.sender:
                assert got == "404"
            elif m.state in ("received", "answered", "withdrawn"):
                assert got == "409"
            else:
                assert got == "ok"
                m.state, m.events = "withdrawn", m.events + 1

        @rule(county=st.sampled_from(COUNTIES))
        def pull_inbox(self, county: str) -> None:
            with transaction(hub.sessions) as session:
                page = inbox.pull_inbox(session, callers[county], limit=500)
            for item in page.items:
                m = self.model.get(item.id)
                if m is not None and m.state == "submitted":
                    m.state, m.events = "delivered", m.events + 1

        @invariant()
        def hub_agrees_with_the_model(self) -> None:
            if not self.model:
                return
            ids = list(self.model)
            with hub.sessions() as session:
                states = dict(
                    session.execute(
                        select(Message.id, Message.state).where(Message.id.in_(ids))
                    ).all()
                )
                events = Counter(
                    session.scalars(
                        select(MessageEvent.message_id).where(MessageEvent.message_id.in_(ids))
                    )
                )
                answered = Counter(
                    session.scalars(
                        select(MessageEvent.message_id).where(
                            MessageEvent.message_id.in_(ids), MessageEvent.to_state == "answered"
                        )
                    )
                )
                changes = session.scalar(
                    select(func.count())
                    .select_from(Change)
                    .where(Change.object_id.in_([str(i) for i in ids]))
                )
            assert states == {i: m.state for i, m in self.model.items()}
            assert dict(events) == {i: m.events for i, m in self.model.items()}
            assert all(answered[i] == m.feedbacks <= 1 for i, m in self.model.items())
            assert changes == sum(m.events for m in self.model.values())

    return Protocol


def test_protocol_state_machine(hub: HubContext) -> None:
    machine = build_machine(hub)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )

"""Messages between counties: submit, receive, answer, withdraw (SPEC §4).

States::

    submitted ─► delivered ─► received ─► answered
        │            │
        └────────────┴──► withdrawn   (by the sender, before receipt)

``delivered``: the item reached the recipient (pulled from its inbox, read,
or pushed). ``received``: the recipient acknowledged it. An answer to an item
not yet acknowledged records the missing steps at the same instant. Every
transition writes a ``MessageEvent`` (time and actor) and a change-feed entry
visible to both counties, together at commit (``changes.record_change``). Only
the addressed county may receive or answer; to everyone else the message does
not exist (404).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.changes import record_change, write_queued_events
from exchange_hub.config import Settings
from exchange_hub.errors import Conflict, InvalidInput, NotFound
from exchange_hub.exchange import receipts, repository, routing
from exchange_hub.exchange.common import (
    BODY_CONTEXT,
    FEEDBACK_CONTEXT,
    audit_read,
    decrypt_content,
    decrypt_feedback,
    keyring_of,
    settings_of,
    summary,
    summary_of,
)
from exchange_hub.exchange.schemas import (
    DETAIL_FIELDS,
    DETAIL_OF_TYPE,
    FeedbackCreate,
    MessageAccepted,
    MessageCreate,
    MessageRead,
    MessageSummary,
)
from exchange_hub.masking import mask_text
from exchange_hub.models import Message, MessageEvent, PushDelivery
from exchange_hub.models.base import new_id
from exchange_hub.scope import Caller, require_role
from exchange_hub.workdays import Basis, WorkingCalendar, local_date
from exchange_hub.workdays_store import calendar_of

HUB_ACTOR = "hub"
_STAMP = {
    "delivered": "delivered_at",
    "received": "received_at",
    "answered": "answered_at",
    "withdrawn": "withdrawn_at",
}


# -- submitting ------------------------------------------------------------------
def submit_message(
    session: Session,
    caller: Caller,
    *,
    payload: MessageCreate,
    sender_signature: dict[str, Any] | None = None,
    now: datetime | None = None,
    flush: bool = True,
) -> MessageAccepted:
    """Accept a query or notification, route it, queue its pushes, sign a receipt.

    ``flush=False`` leaves the rows to the next flush, so callers creating many
    messages in one transaction (the inflow hook during a batch) get them
    inserted in batches rather than one statement pair per message.
    """
    require_role(caller, "county")
    settings, keyring = settings_of(session), keyring_of(session)
    now = now or clock.now()
    subtype = _check_shape(payload)
    id_number = routing.normalise_id_number(
        session, payload.subject.id_number, policy=settings.id_policy, field="subject.id_number"
    )
    route = routing.route(session, keyring, to_region=payload.to_region, id_number=id_number)
    if route.to_region == caller.region:
        raise InvalidInput("a message cannot be addressed to your own county", field="to_region")
    content = _content(payload, id_number)
    message = _new_message(session, caller, payload, subtype, route.to_region, content, now)
    message.sender_signature = sender_signature
    message.hub_receipt = receipts.issue_receipt(
        keyring,
        message_id=message.id,
        digest=message.body_digest,
        accepted_at=now,
        from_region=message.from_region,
        to_region=message.to_region,
    )
    session.add(message)
    _write_event(session, message, None, "submitted", caller.label, caller.member_id, now)
    _queue_pushes(session, message, now)
    if flush:
        session.flush()
    return MessageAccepted.model_validate(
        {**summary_of(message, now), "routed_by": route.routed_by, "receipt": message.hub_receipt}
    )


def submit_messages(
    session: Session,
    caller: Caller,
    payloads: Sequence[MessageCreate],
    *,
    now: datetime | None = None,
    queue_changes: bool = True,
) -> list[dict[str, Any]]:
    """``submit_message`` for many messages at once, written with Core inserts
    (a records batch's inflow notices and queries, SPEC §3).

    Each payload is already routed: its ``to_region`` is a current county other
    than the caller's, and its subject's ID number is in its checked 18-character
    form (the records the messages are about passed the same checks). Bodies,
    digests, deadlines, receipts, events and pushes are those ``submit_message``
    writes. With ``queue_changes=False`` the caller appends the change-feed
    entries itself, server-side, once its batch is written.
    """
    require_role(caller, "county")
    now = now or clock.now()
    rows = _MessageRows(_push_members_of(session, {p.to_region or "" for p in payloads}))
    for payload in payloads:
        rows.add(session, caller, payload, now)
    rows.write(session, queue_changes=queue_changes)
    return rows.sent


_MESSAGE_COLUMNS = tuple(c.key for c in Message.__table__.columns)


@dataclass
class _MessageRows:
    """The rows of many messages, written together by ``write``."""

    push_members: dict[str, list[uuid.UUID]]
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def add(self, session: Session, caller: Caller, payload: MessageCreate, now: datetime) -> None:
        subtype = _check_shape(payload)
        content = _content(payload, payload.subject.id_number)
        message = _new_message(
            session, caller, payload, subtype, payload.to_region or "", content, now
        )
        message.hub_receipt = receipts.issue_receipt(
            keyring_of(session), message_id=message.id, digest=message.body_digest,
            accepted_at=now, from_region=message.from_region, to_region=message.to_region,
        )  # fmt: skip
        self.messages.append({c: getattr(message, c) for c in _MESSAGE_COLUMNS})
        self.events.append(
            {"message_id": message.id, "at": now, "actor_member_id": caller.member_id,
             "actor": caller.label, "from_state": None, "to_state": "submitted", "detail": None}
        )  # fmt: skip
        self.pushes.extend(
            {"message_id": message.id, "member_id": member_id, "region": message.to_region,
             "state": "pending", "attempts": 0, "created_at": now, "window_started_at": now,
             "next_attempt_at": now}
            for member_id in self.push_members.get(message.to_region, ())
        )  # fmt: skip
        self.sent.append(
            {**summary_of(message, now), "routed_by": "to_region",
             "receipt": message.hub_receipt}
        )  # fmt: skip

    def write(self, session: Session, *, queue_changes: bool) -> None:
        repository.insert_rows(
            session,
            [(Message, self.messages), (MessageEvent, self.events), (PushDelivery, self.pushes)],
        )
        if queue_changes:
            for row in self.messages:
                summary = {"state": "submitted", "kind": row["kind"], "subtype": row["subtype"]}
                record_change(
                    session, "message", row["id"], "submitted",
                    [row["from_region"], row["to_region"]], summary,
                )  # fmt: skip


def _check_shape(payload: MessageCreate) -> str:
    """Each kind carries only the fields it needs (SPEC §4); returns the subtype."""
    if payload.kind == "query":
        if payload.urgency is None:
            raise InvalidInput(
                "a query needs urgency: urgent, normal or certificate", field="urgency"
            )
        if payload.type is not None:
            raise InvalidInput("type belongs to notifications; a query has urgency", field="type")
        allowed = {"certificate"} if payload.urgency == "certificate" else set()
        _refuse_other_details(payload, allowed)
        return payload.urgency
    if payload.type is None:
        raise InvalidInput(
            "a notification needs type: health_check, contraception, birth, inflow or other",
            field="type",
        )
    if payload.urgency is not None:
        raise InvalidInput("urgency belongs to queries", field="urgency")
    detail = DETAIL_OF_TYPE[payload.type]
    if detail is not None and getattr(payload, detail) is None:
        raise InvalidInput(f"a {payload.type} notification needs {detail}", field=detail)
    _refuse_other_details(payload, {detail} if detail else set())
    return payload.type


def _refuse_other_details(payload: MessageCreate, allowed: set[str]) -> None:
    for name in DETAIL_FIELDS:
        if name not in allowed and getattr(payload, name) is not None:
            what = payload.urgency or payload.type
            raise InvalidInput(f"a {payload.kind} ({what}) does not carry {name}", field=name)


def _content(payload: MessageCreate, id_number: str) -> dict[str, Any]:
    """What the message says, as stored (encrypted) and digested."""
    data = payload.model_dump(mode="json", exclude_none=True)
    data["subject"]["id_number"] = id_number
    return data


def deadline_for(
    settings: Settings, calendar: WorkingCalendar, kind: str, subtype: str, submitted: datetime
) -> tuple[datetime, Basis]:
    """Days by kind (configurable, SPEC §4), counted from the Shanghai date, moved off
    rest days; with the basis (``official`` or ``weekends_only``) it was computed on."""
    days = {
        "urgent": settings.deadline_days_urgent,
        "normal": settings.deadline_days_normal,
        "certificate": settings.deadline_days_certificate,
    }
    count = days[subtype] if kind == "query" else settings.deadline_days_notification
    return calendar.deadline_after(submitted, count)


def period_of(moment: datetime) -> str:
    """The Asia/Shanghai month (``YYYY-MM``) a message counts in."""
    return local_date(moment).strftime("%Y-%m")


def _new_message(
    session: Session,
    caller: Caller,
    payload: MessageCreate,
    subtype: str,
    to_region: str,
    content: dict[str, Any],
    now: datetime,
) -> Message:
    keyring = keyring_of(session)
    is_query = payload.kind == "query"
    deadline, basis = deadline_for(
        settings_of(session), calendar_of(session), payload.kind, subtype, now
    )
    return Message(
        id=new_id(),
        kind=payload.kind,
        subtype=subtype,
        from_region=caller.region,
        to_region=to_region,
        sender_member_id=caller.member_id,
        state="submitted",
        needs_receipt=not is_query,
        needs_feedback=is_query or subtype == "birth",
        # Kept in clear for lists and the origin's inbox, so masked: the whole text is
        # in the encrypted body (issue 15, finding 2: no person data at rest in clear).
        purpose=mask_text(payload.purpose) if payload.purpose else payload.purpose,
        case_ref=mask_text(payload.case_ref) if payload.case_ref else payload.case_ref,
        subject_index=keyring.blind_index(content["subject"]["id_number"]),
        record_id=payload.record_id,
        body=keyring.encrypt(json.dumps(content, ensure_ascii=False), BODY_CONTEXT),
        body_digest=receipts.message_digest(content),
        period=period_of(now),
        submitted_at=now,
        deadline=deadline,
        deadline_basis=basis,
        updated_at=now,
    )


# Which counties have push endpoints, per database, for a few seconds: every
# message asks, endpoints rarely change, and the inbox holds everything anyway.
_PUSH_TTL_SECONDS = 5.0
_push_cache: dict[tuple[str, str], tuple[float, list[uuid.UUID]]] = {}


def push_member_ids(session: Session, county: str) -> list[uuid.UUID]:
    key = (str(session.get_bind().engine.url), county)
    cached = _push_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < _PUSH_TTL_SECONDS:
        return cached[1]
    ids = [m.id for m in repository.push_members_of(session, county)]
    _push_cache[key] = (time.monotonic(), ids)
    return ids


def _push_members_of(session: Session, counties: set[str]) -> dict[str, list[uuid.UUID]]:
    """``push_member_ids`` of many counties in one query (uncached)."""
    found: dict[str, list[uuid.UUID]] = {}
    for region, member_id in repository.push_member_ids_in(session, counties) if counties else ():
        found.setdefault(region, []).append(member_id)
    return found


def forget_push_members() -> None:
    """After a member registers or removes an endpoint in this process."""
    _push_cache.clear()


def _queue_pushes(session: Session, message: Message, now: datetime) -> None:
    """Transactional outbox: pushes commit with the message or not at all."""
    for member_id in push_member_ids(session, message.to_region):
        session.add(
            PushDelivery(
                message_id=message.id,
                member_id=member_id,
                region=message.to_region,
                state="pending",
                attempts=0,
                created_at=now,
                window_started_at=now,
                next_attempt_at=now,
            )
        )


# -- transitions -------------------------------------------------------------------
def _write_event(
    session: Session,
    message: Message,
    from_state: str | None,
    to_state: str,
    actor: str,
    actor_member_id: uuid.UUID | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """The transition's event, queued with its change-feed entry (both written at commit)."""
    event = {
        "message_id": message.id, "at": now, "actor_member_id": actor_member_id, "actor": actor,
        "from_state": from_state, "to_state": to_state, "detail": detail,
    }  # fmt: skip
    summary = {"state": to_state, "kind": message.kind, "subtype": message.subtype}
    regions = [message.from_region, message.to_region]
    record_change(session, "message", message.id, to_state, regions, summary, event=event)


def _move(
    session: Session,
    message: Message,
    to_state: str,
    *,
    actor: str,
    actor_member_id: uuid.UUID | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    from_state = message.state
    message.state = to_state
    setattr(message, _STAMP[to_state], now)
    message.updated_at = now
    _write_event(session, message, from_state, to_state, actor, actor_member_id, now, detail)


def mark_delivered(
    session: Session,
    message: Message,
    *,
    actor: str,
    actor_member_id: uuid.UUID | None,
    now: datetime,
) -> bool:
    """submitted → delivered; a no-op for a message already further along."""
    if message.state != "submitted":
        return False
    _move(session, message, "delivered", actor=actor, actor_member_id=actor_member_id, now=now)
    return True


def record_delivery(
    session: Session,
    message: Message,
    *,
    actor: str,
    actor_member_id: uuid.UUID | None,
    now: datetime,
) -> None:
    """The event of a delivery the inbox's read made itself (``repository.deliver_submitted``)."""
    _write_event(session, message, "submitted", "delivered", actor, actor_member_id, now)


def _advance_to_received(session: Session, caller: Caller, message: Message, now: datetime) -> None:
    actor, actor_member_id = caller.label, caller.member_id
    mark_delivered(session, message, actor=actor, actor_member_id=actor_member_id, now=now)
    _move(session, message, "received", actor=actor, actor_member_id=actor_member_id, now=now)


def _load_addressed(session: Session, caller: Caller, message_id: uuid.UUID) -> Message:
    """The message, locked, if it is addressed to the caller's county; else 404."""
    message = repository.get_message(session, message_id, for_update=True)
    if message is None or caller.role != "county" or message.to_region != caller.region:
        raise _missing(message_id)
    return message


def _missing(message_id: uuid.UUID) -> NotFound:
    return NotFound(f"no message {message_id}", field="message_id")


def _refuse_if_closed(message: Message, verb: str) -> None:
    if message.state == "withdrawn":
        raise Conflict(f"cannot {verb}: the sender withdrew this message", field="state")
    if message.state == "answered":
        raise Conflict(
            f"cannot {verb}: feedback was already given at {message.answered_at:%Y-%m-%dT%H:%M:%SZ}"
            "; one final feedback per message",
            field="state",
        )


def acknowledge(
    session: Session, caller: Caller, *, message_id: uuid.UUID, now: datetime | None = None
) -> MessageSummary:
    """接收: the addressed county acknowledges the message."""
    now = now or clock.now()
    message = _load_addressed(session, caller, message_id)
    _refuse_if_closed(message, "acknowledge")
    if message.state == "received":
        raise Conflict(
            f"already acknowledged at {message.received_at:%Y-%m-%dT%H:%M:%SZ}", field="state"
        )
    _advance_to_received(session, caller, message, now)
    session.flush()
    return summary(message, now)


def answer(
    session: Session,
    caller: Caller,
    *,
    message_id: uuid.UUID,
    feedback: FeedbackCreate,
    now: datetime | None = None,
) -> MessageSummary:
    """反馈: the one final answer to a query (or the confirmation of a birth)."""
    now = now or clock.now()
    _check_feedback(feedback)
    stored = feedback.model_dump(mode="json", exclude_none=True)
    body = keyring_of(session).encrypt(json.dumps(stored, ensure_ascii=False), FEEDBACK_CONTEXT)
    answered = _answer_at_once(session, caller, message_id, feedback.result, body, now)
    if answered is not None:
        return summary(answered, now)
    message = _load_addressed(session, caller, message_id)
    _refuse_if_closed(message, "answer")
    if not message.needs_feedback:
        raise Conflict(
            f"a {message.subtype} notification takes a receipt, not feedback", field="result"
        )
    if message.state != "received":
        _advance_to_received(session, caller, message, now)
    message.feedback_result, message.feedback_body = feedback.result, body
    _move(
        session, message, "answered",
        actor=caller.label, actor_member_id=caller.member_id, now=now,
        detail={"result": feedback.result},
    )  # fmt: skip
    session.flush()
    return summary(message, now)


_STEPS = (*repository.ANSWERABLE_STATES, "answered")


def _answer_at_once(
    session: Session, caller: Caller, message_id: uuid.UUID, result: str, body: str, now: datetime
) -> Message | None:
    """The usual answer in one statement (``repository.answer_if_open``), with the events
    of every step it took; ``None`` when that did not apply (a message the caller may not
    answer, or SQLite): ``answer`` then loads the message and answers or refuses."""
    if caller.role != "county":
        return None
    answered = repository.answer_if_open(
        session, message_id, to_region=caller.region, result=result, body=body, now=now
    )
    if answered is None:
        return None
    message, before = answered
    steps = _STEPS[_STEPS.index(before) :]
    for from_state, to_state in itertools.pairwise(steps):
        detail = {"result": result} if to_state == "answered" else None
        _write_event(
            session, message, from_state, to_state, caller.label, caller.member_id, now, detail
        )
    return message


def _check_feedback(feedback: FeedbackCreate) -> None:
    if feedback.result == "mismatch" and not feedback.differences:
        raise InvalidInput("a mismatch lists the fields that differ", field="differences")
    if feedback.result != "mismatch" and feedback.differences:
        raise InvalidInput("differences belong to a mismatch", field="differences")
    if feedback.result != "multiple_candidates" and feedback.candidates is not None:
        raise InvalidInput("candidates belongs to multiple_candidates", field="candidates")
    if feedback.result == "not_found" and feedback.verified:
        raise InvalidInput("nothing can be verified about a person not found", field="verified")


def withdraw(
    session: Session, caller: Caller, *, message_id: uuid.UUID, now: datetime | None = None
) -> MessageSummary:
    """The sender takes a message back before the recipient acknowledged it."""
    now = now or clock.now()
    message = repository.get_message(session, message_id, for_update=True)
    if message is None or caller.role != "county" or message.from_region != caller.region:
        raise _missing(message_id)
    if message.state == "withdrawn":
        raise Conflict("this message is already withdrawn", field="state")
    if message.state in ("received", "answered"):
        raise Conflict(
            f"cannot withdraw: the recipient already acknowledged it ({message.state})",
            field="state",
        )
    _move(
        session, message, "withdrawn", actor=caller.label, actor_member_id=caller.member_id, now=now
    )
    session.flush()
    return summary(message, now)


# -- reading -------------------------------------------------------------------------
def read_message(
    session: Session, caller: Caller, *, message_id: uuid.UUID, now: datetime | None = None
) -> MessageRead:
    """One message with its history; its content is person data, so the read is audited."""
    now = now or clock.now()
    message = repository.get_message(session, message_id, for_update=caller.role == "county")
    if message is None or not _may_see(caller, message):
        raise _missing(message_id)
    if caller.role == "county" and message.to_region == caller.region:
        mark_delivered(
            session, message, actor=caller.label, actor_member_id=caller.member_id, now=now
        )
    shows_content = caller.role == "county" or caller.person_data_grant
    result = MessageRead.model_validate(
        {
            **summary_of(message, now),
            "content": decrypt_content(session, message) if shows_content else None,
            "feedback": decrypt_feedback(session, message) if shows_content else None,
            "receipt": message.hub_receipt,
            "events": [_event_read(e) for e in _events_of(session, message)],
        }
    )
    if shows_content:
        audit_read(session, caller, "message.read", [message.id])
    session.flush()
    return result


def _events_of(session: Session, message: Message) -> Sequence[MessageEvent]:
    write_queued_events(session)  # a delivery just recorded is part of the history shown
    return repository.events_of(session, message.id)


def _event_read(event: MessageEvent) -> dict[str, Any]:
    return {
        "at": event.at,
        "actor": event.actor,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "detail": event.detail,
    }


def _may_see(caller: Caller, message: Message) -> bool:
    if caller.role == "county":
        return caller.region in (message.from_region, message.to_region)
    if caller.role == "admin":
        return caller.covers(message.from_region) or caller.covers(message.to_region)
    return False

"""Queries of the exchange: messages by id, inbox and outbox pages, events, push rows,
inflow hooks, deadline recomputation, retention, bulk writes. Push delivery's own
queries are in ``delivery_repository``. Nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    delete,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, load_only

from exchange_hub import changes_repository
from exchange_hub.db import rowcount
from exchange_hub.models import Member, Message, MessageEvent, PushDelivery, Region, SeenSignature
from exchange_hub.models.base import UTCDateTime

InboxOrder = Literal["deadline", "arrival"]

# The to-do list (待办事项): what the county has still to receive or answer.
OPEN_STATES = ("submitted", "delivered")


def get_message(
    session: Session, message_id: uuid.UUID, *, for_update: bool = False
) -> Message | None:
    query = select(Message).where(Message.id == message_id)
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


# What an answer may still follow (``service.answer``), in the order a message moves.
ANSWERABLE_STATES = ("submitted", "delivered", "received")


def answer_if_open(
    session: Session,
    message_id: uuid.UUID,
    *,
    to_region: str,
    result: str,
    body: str,
    now: datetime,
) -> tuple[Message, str] | None:
    """PostgreSQL: the message, answered at ``now`` in one statement if it is addressed to
    ``to_region``, takes feedback and is still answerable, with the state it had before
    (stamping the steps it skips, as ``service.answer`` does). ``None`` otherwise, and on
    SQLite, having changed nothing: the caller loads the message to say why.

    The state read in ``FROM`` must still be the row's when its lock is granted: an
    answer or withdrawal committed meanwhile makes the update match nothing (READ
    COMMITTED rechecks the locked row, not the subquery) rather than miscount the steps.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None  # its RETURNING cannot name the FROM subquery
    before = select(Message.id, Message.state).where(Message.id == message_id).subquery("before")
    answered = (
        update(Message)
        .where(
            Message.id == before.c.id,
            Message.state == before.c.state,
            Message.to_region == to_region,
            Message.needs_feedback.is_(True),
            Message.state.in_(ANSWERABLE_STATES),
        )
        .values(
            state="answered",
            answered_at=now,
            updated_at=now,
            delivered_at=case((Message.state == "submitted", now), else_=Message.delivered_at),
            received_at=case((Message.state == "received", Message.received_at), else_=now),
            feedback_result=result,
            feedback_body=body,
        )
        .returning(Message, before.c.state)
    )
    row = session.execute(answered).one_or_none()
    return None if row is None else (row[0], row[1])


def events_of(session: Session, message_id: uuid.UUID) -> Sequence[MessageEvent]:
    query = select(MessageEvent).where(MessageEvent.message_id == message_id)
    return session.scalars(query.order_by(MessageEvent.id)).all()


def inbox_messages(
    session: Session,
    county: str,
    *,
    state: str | None,
    kind: str | None,
    order: InboxOrder,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    for_update: bool = False,
    periods: Sequence[str] | None = None,
    sent: bool = False,
) -> Sequence[Message]:
    """Messages addressed to ``county`` (``sent``: sent by it) in keyset order (deadline
    or arrival, then id); with ``periods``, only those submitted in these Asia/Shanghai
    months (``2026-11``)."""
    query = _inbox_query(county, state, kind, order, after, periods=periods, sent=sent)
    query = query.limit(limit)
    return session.scalars(query.with_for_update() if for_update else query).all()


def deliver_submitted(
    session: Session,
    county: str,
    *,
    kind: str | None,
    order: InboxOrder,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    now: datetime,
) -> list[Message]:
    """The page ``inbox_messages(state="submitted")`` reads, locked and moved to
    ``delivered`` at ``now`` in the same statement (``UPDATE … WHERE id IN (the page)
    RETURNING``), in the page's order. The moved rows still need their events."""
    page = _inbox_query(county, "submitted", kind, order, after).limit(limit).with_for_update()
    moved = (
        update(Message)
        .where(Message.id.in_(page.with_only_columns(Message.id).scalar_subquery()))
        .values(state="delivered", delivered_at=now, updated_at=now)
        .returning(Message)
    )
    messages = list(session.scalars(moved))
    messages.sort(key=lambda m: (m.deadline if order == "deadline" else m.submitted_at, m.id))
    return messages


def _inbox_query(
    county: str,
    state: str | None,
    kind: str | None,
    order: InboxOrder,
    after: tuple[datetime, uuid.UUID] | None,
    *,
    periods: Sequence[str] | None = None,
    sent: bool = False,
) -> Select[Message]:
    sort = Message.deadline if order == "deadline" else Message.submitted_at
    side = Message.from_region if sent else Message.to_region
    query = select(Message).where(side == county)
    if periods is not None:
        query = query.where(Message.period.in_(list(periods)))
    if state:
        query = query.where(Message.state == state)
    else:
        query = query.where(
            or_(
                Message.state.in_(OPEN_STATES),
                and_(Message.state == "received", Message.needs_feedback.is_(True)),
            )
        )
    if kind:
        query = query.where(Message.kind == kind)
    if after is not None:
        at, last_id = after
        query = query.where(or_(sort > at, and_(sort == at, Message.id > last_id)))
    return query.order_by(sort, Message.id)


def outbox_messages(
    session: Session,
    county: str,
    *,
    state: str | None,
    kind: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Message]:
    """Messages sent by ``county``, newest first."""
    query = select(Message).where(Message.from_region == county)
    if state:
        query = query.where(Message.state == state)
    if kind:
        query = query.where(Message.kind == kind)
    if before is not None:
        at, last_id = before
        query = query.where(
            or_(
                Message.submitted_at < at,
                and_(Message.submitted_at == at, Message.id < last_id),
            )
        )
    query = query.order_by(Message.submitted_at.desc(), Message.id.desc()).limit(limit)
    return session.scalars(query).all()


def push_members_of(session: Session, county: str) -> Sequence[Member]:
    """Active county systems of ``county`` that registered a push endpoint."""
    query = select(Member).where(
        Member.region == county,
        Member.role == "county",
        Member.active.is_(True),
        Member.push_url.is_not(None),
    )
    return session.scalars(query).all()


def push_member_ids_in(session: Session, counties: set[str]) -> list[tuple[str, uuid.UUID]]:
    """(region, id) of the members ``push_members_of`` finds, for many counties at once."""
    query = select(Member.region, Member.id).where(
        Member.region.in_(counties),
        Member.role == "county",
        Member.active.is_(True),
        Member.push_url.is_not(None),
    )
    return [(region, member_id) for region, member_id in session.execute(query)]


def deliveries(
    session: Session, *, state: str | None, within_prefix: str, after_id: int, limit: int
) -> Sequence[PushDelivery]:
    query = select(PushDelivery).where(PushDelivery.id > after_id)
    if state:
        query = query.where(PushDelivery.state == state)
    if within_prefix:
        query = query.where(PushDelivery.region.startswith(within_prefix))
    return session.scalars(query.order_by(PushDelivery.id).limit(limit)).all()


def current_counties(session: Session, codes: set[str]) -> set[str]:
    """The codes that name a current county (one query)."""
    if not codes:
        return set()
    query = select(Region.code).where(
        Region.code.in_(codes), Region.level == "county", Region.active.is_(True)
    )
    return set(session.scalars(query))


def append_submitted_changes(
    session: Session, *, actor: str, from_region: str, at: datetime
) -> None:
    """Append to the change feed, server-side and in the order they were written, the
    ``submitted`` messages ``actor`` wrote from ``from_region`` at ``at`` (one INSERT …
    SELECT). The caller holds the feed lock (``changes.lock_feed``)."""
    events, messages = MessageEvent.__table__, Message.__table__
    summary = changes_repository.json_object(
        session,
        "state", literal("submitted"), "kind", messages.c.kind, "subtype", messages.c.subtype,
    )  # fmt: skip
    rows = (
        select(
            events.c.at,
            literal("message"),
            changes_repository.id_text(session, messages.c.id),
            literal("submitted"),
            messages.c.from_region,
            messages.c.to_region,
            summary,
        )
        .join_from(events, messages, events.c.message_id == messages.c.id)
        .where(
            events.c.at == bindparam("at", at, type_=UTCDateTime),
            events.c.actor == actor,
            events.c.to_state == "submitted",
            messages.c.from_region == from_region,
        )
        .order_by(events.c.id)
    )
    changes_repository.append_selected(session, rows)


_DEADLINE_COLUMNS = (
    Message.kind, Message.subtype, Message.state, Message.from_region, Message.to_region,
    Message.submitted_at, Message.deadline, Message.deadline_basis, Message.updated_at,
)  # fmt: skip


def messages_with_deadline_to_recompute(
    session: Session, *, basis: str, span: tuple[datetime, datetime] | None
) -> Iterator[Message]:
    """Open messages whose deadline was computed on ``basis``, and those (when ``span`` =
    ``(first, last)`` instants is given) with a deadline at or after ``first`` submitted
    at or before ``last``; locked, by id, without their (encrypted) bodies."""
    affected = [Message.deadline_basis == basis]
    if span is not None:
        affected.append(and_(Message.deadline >= span[0], Message.submitted_at <= span[1]))
    query = (
        select(Message)
        .where(Message.state != "withdrawn", or_(*affected))
        .options(load_only(*_DEADLINE_COLUMNS))
        .order_by(Message.id)
        .with_for_update()
    )
    yield from session.scalars(query)


def _closed() -> ColumnElement[bool]:
    return or_(
        Message.state.in_(("answered", "withdrawn")),
        and_(Message.state == "received", Message.needs_feedback.is_(False)),
    )


def closed_messages_to_purge(
    session: Session, *, kind: str, submitted_before: datetime, purged_digest: str, limit: int
) -> Sequence[Message]:
    """Up to ``limit`` closed messages of ``kind`` submitted before the date whose body is
    not purged yet."""
    query = select(Message).where(
        Message.kind == kind, Message.body_digest != purged_digest, _closed(),
        Message.submitted_at < submitted_before,
    )  # fmt: skip
    return session.scalars(query.limit(limit)).all()


def delete_signatures_seen_before(session: Session, cutoff: datetime) -> int:
    """Forget replay-protection signatures seen before ``cutoff``; how many."""
    result = session.execute(delete(SeenSignature).where(SeenSignature.seen_at < cutoff))
    return rowcount(result)


def insert_rows(
    session: Session, rows_by_model: Sequence[tuple[Any, list[dict[str, Any]]]]
) -> None:
    """Bulk-insert plain rows of several tables, in the order given (executemany)."""
    for model, rows in rows_by_model:
        if rows:
            session.execute(insert(model.__table__), rows)

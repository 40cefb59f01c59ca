"""Queries of the exchange: messages by id, inbox and outbox pages, events, push rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from exchange_hub.models import Member, Message, MessageEvent, PushDelivery

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


def events_of(session: Session, message_id: uuid.UUID) -> Sequence[MessageEvent]:
    query = select(MessageEvent).where(MessageEvent.message_id == message_id)
    return session.scalars(query.order_by(MessageEvent.id)).all()


def inbox_query(
    county: str,
    *,
    state: str | None,
    kind: str | None,
    order: InboxOrder,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    for_update: bool = False,
    periods: Sequence[str] | None = None,
) -> Select[Message]:
    """Messages addressed to ``county`` in keyset order (deadline or arrival, then id);
    with ``periods``, only those submitted in these Asia/Shanghai months (``2026-11``)."""
    sort = Message.deadline if order == "deadline" else Message.submitted_at
    query = select(Message).where(Message.to_region == county)
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
    query = query.order_by(sort, Message.id).limit(limit)
    return query.with_for_update() if for_update else query


def outbox_query(
    county: str,
    *,
    state: str | None,
    kind: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Select[Message]:
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
    return query.order_by(Message.submitted_at.desc(), Message.id.desc()).limit(limit)


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

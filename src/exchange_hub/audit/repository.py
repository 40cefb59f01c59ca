"""Queries of the audit trail (``audit_events``) and of the failed-authentication
counters (``auth_failure_counts``). Nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, insert, select, update
from sqlalchemy.orm import Session

from exchange_hub.db import rowcount
from exchange_hub.models import AuditEvent, AuthFailureCount

FailureCounter = Row[datetime, str | None, str, uuid.UUID | None, str, str | None, int, datetime]
"""``(window_start, client, reason, member_id, actor, region, repeats, last_at)``."""


def insert_chained(
    session: Session, values: dict[str, Any], *, prev_hash: str | None, first: str
) -> AuditEvent:
    """Insert an audit row linked to ``prev_hash`` and return it as stored (``RETURNING``),
    its hash still empty. ``prev_hash=None`` links it to the newest row, read in the same
    statement (``first`` when the trail is empty): the caller holds the journal lock, taken
    by an earlier statement, so the insert's snapshot sees every row committed before."""
    link: Any = prev_hash
    if link is None:
        newest = select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        link = func.coalesce(newest.scalar_subquery(), first)
    query = insert(AuditEvent).values(**values, prev_hash=link, hash="").returning(AuditEvent)
    return session.scalars(query).one()


def events_after(session: Session, after_id: int, limit: int) -> Sequence[AuditEvent]:
    """The next ``limit`` audit rows after ``after_id``, oldest first."""
    query = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id)
    return session.scalars(query.limit(limit)).all()


def latest_event_of_action(session: Session, action: str) -> AuditEvent | None:
    query = select(AuditEvent).where(AuditEvent.action == action)
    return session.scalars(query.order_by(AuditEvent.id.desc()).limit(1)).first()


def latest_event_before(session: Session, cutoff: datetime) -> AuditEvent | None:
    query = select(AuditEvent).where(AuditEvent.at < cutoff)
    return session.scalars(query.order_by(AuditEvent.id.desc()).limit(1)).first()


def delete_events_through(session: Session, through_id: int) -> int:
    """Delete the audit rows up to ``through_id``; how many went."""
    return rowcount(session.execute(delete(AuditEvent).where(AuditEvent.id <= through_id)))


def events_page(
    session: Session,
    *,
    region_prefix: str | None,
    action: str | None,
    outcome: str | None,
    after_id: int,
    limit: int,
) -> Sequence[AuditEvent]:
    """Audit rows after ``after_id`` (oldest first) of regions starting with the prefix."""
    query = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit)
    return session.scalars(_filtered(query, region_prefix, action, outcome)).all()


def newest_events(
    session: Session,
    *,
    region_prefix: str | None,
    action: str | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AuditEvent]:
    """Audit rows newest first, below ``before_id``, at or after ``since`` and before
    ``until``, of regions starting with the prefix."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return session.scalars(_filtered(query, region_prefix, action, outcome)).all()


def _filtered(
    query: Select[AuditEvent],
    region_prefix: str | None,
    action: str | None,
    outcome: str | None,
) -> Select[AuditEvent]:
    if region_prefix:
        query = query.where(AuditEvent.region.startswith(region_prefix))
    if action:
        query = query.where(AuditEvent.action == action)
    if outcome:
        query = query.where(AuditEvent.outcome == outcome)
    return query


def count_repeat_failure(session: Session, kind: str, start: datetime, at: datetime) -> bool:
    """One more failure on the counter of ``(kind, start)``; False when there is none."""
    counted = session.execute(
        update(AuthFailureCount)
        .where(AuthFailureCount.kind == kind, AuthFailureCount.window_start == start)
        .values(repeats=AuthFailureCount.repeats + 1, last_at=at)
    )
    return bool(rowcount(counted))


_COUNTER_COLUMNS = (
    AuthFailureCount.window_start, AuthFailureCount.client, AuthFailureCount.reason,
    AuthFailureCount.member_id, AuthFailureCount.actor, AuthFailureCount.region,
    AuthFailureCount.repeats, AuthFailureCount.last_at,
)  # fmt: skip


def take_failure_counters_before(
    session: Session, start: datetime, *, kind: str | None = None
) -> Sequence[FailureCounter]:
    """Delete the counters of intervals starting before ``start`` (of one kind, when given)
    and return them. ``DELETE … RETURNING`` makes the deleting transaction their only reader."""
    query = delete(AuthFailureCount).where(AuthFailureCount.window_start < start)
    if kind is not None:
        query = query.where(AuthFailureCount.kind == kind)
    return session.execute(query.returning(*_COUNTER_COLUMNS)).all()

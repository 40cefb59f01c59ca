"""Queries of push delivery (``push_deliveries``, the outbox rows of ``delivery.py``):
claiming due rows, fencing outcomes by the claim token, handing back, re-driving.
Nothing here commits; the claim's boundary commits it with its lease."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from exchange_hub.db import rowcount
from exchange_hub.models import PushDelivery


def _heads_of_queues() -> Select[int]:
    """Each member's oldest open push: only it may be sent, so items reach a member in the
    order they were queued, one at a time (a head waiting to be retried holds the rest
    back; once it is given up as failed, the next one goes).

    One grouped scan of the open rows (the ``state`` index), not a per-row ``NOT EXISTS``
    over the member's earlier rows: that probe made a claim cost open rows times the
    member's history (about a second per claim at 2,000 queued pushes), and a backlog
    drained in minutes instead of seconds.
    """
    return (
        select(func.min(PushDelivery.id))
        .where(PushDelivery.state.in_(("pending", "sending")))
        .group_by(PushDelivery.member_id)
        .correlate(None)  # over the whole table, not the row being claimed
    )


def claim_due_rows(
    session: Session, *, token: str, now: datetime, limit: int, lease_until: datetime
) -> list[int]:
    """Mark up to ``limit`` due heads of queues ``sending`` under ``token`` until
    ``lease_until``; their ids, in order."""
    due = and_(
        or_(
            and_(PushDelivery.state == "pending", PushDelivery.next_attempt_at <= now),
            and_(PushDelivery.state == "sending", PushDelivery.claimed_until < now),
        ),
        PushDelivery.id.in_(_heads_of_queues()),
    )
    # Two statements, not UPDATE … WHERE id IN (SELECT … LIMIT … SKIP LOCKED): PostgreSQL
    # may re-run such a subquery per row and claim more than ``limit`` rows. The rows the
    # SELECT returns stay locked (PostgreSQL) or the write lock is held (SQLite) until commit.
    claimed = list(
        session.scalars(
            select(PushDelivery.id)
            .where(due)
            .order_by(PushDelivery.next_attempt_at, PushDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if claimed:
        session.execute(
            update(PushDelivery)
            .where(PushDelivery.id.in_(claimed))
            .values(state="sending", claimed_by=token, claimed_until=lease_until)
            .execution_options(synchronize_session=False)
        )
    return sorted(claimed)


def deliveries_by_id(session: Session, ids: Sequence[int]) -> Sequence[PushDelivery]:
    return session.scalars(select(PushDelivery).where(PushDelivery.id.in_(ids))).all()


def claimed_delivery_for_update(
    session: Session, delivery_id: int, token: str
) -> PushDelivery | None:
    """The push, locked, while it is still ``sending`` under this claim (None: lease lost)."""
    return session.scalar(
        select(PushDelivery)
        .where(PushDelivery.id == delivery_id, PushDelivery.claimed_by == token)
        .where(PushDelivery.state == "sending")
        .with_for_update()
    )


def release_claimed(session: Session, ids: Sequence[int], token: str) -> int:
    """Hand these pushes back ``pending`` if ``token`` still holds them; how many."""
    result = session.execute(
        update(PushDelivery)
        .where(
            PushDelivery.id.in_(ids),
            PushDelivery.claimed_by == token,
            PushDelivery.state == "sending",
        )
        .values(state="pending", claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def requeue_given_up(
    session: Session, *, delivery_ids: Sequence[int] | None, within_prefix: str, now: datetime
) -> int:
    """Failed or cancelled pushes (these ids; of regions with the prefix) back to ``pending``
    with a fresh retry window from ``now``; how many."""
    query = update(PushDelivery).where(PushDelivery.state.in_(("failed", "cancelled")))
    if delivery_ids is not None:
        query = query.where(PushDelivery.id.in_(delivery_ids))
    if within_prefix:
        query = query.where(PushDelivery.region.startswith(within_prefix))
    result = session.execute(
        query.values(
            state="pending", attempts=0, next_attempt_at=now, window_started_at=now, last_error=None
        ).execution_options(synchronize_session=False)
    )
    return rowcount(result)

"""Recording changes for the sync feed, in commit order.

Services call ``record_change`` while they work; the rows are appended when
the session commits, under a lock (PostgreSQL advisory lock; SQLite's write
lock), so sequence numbers follow commit order and a cursor never skips a
change committed late.

The change feed and the audit chain share one lock (``lock_journals``): two
locks taken in different orders by different transactions would deadlock.
Pending rows are flushed before the lock is taken, so a transaction holding
the lock never waits for a row lock held by another one.

A message's transition is recorded twice, as a change and as a row of its own
history (``message_events``): ``record_change(…, event=…)`` queues the row with
the change, and both are written at commit in one statement on PostgreSQL (issue
18). A transaction that reads the history before it commits writes the queued
rows first (``write_queued_events``).

Batches append their rows server-side instead (``changes_repository.append_selected``):
one INSERT … SELECT over the rows they wrote, under the same lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from exchange_hub import changes_repository as repository
from exchange_hub import clock
from exchange_hub.changes_repository import changes_for

__all__ = [
    "CHANGE_COLUMNS", "changes_for", "lock_feed", "lock_journals", "lock_journals_at_commit",
    "record_change", "write_queued_events",
]  # fmt: skip

_PENDING = "changes_pending"
_LOCKED_AT_COMMIT = "journal_locked_at_commit"
CHANGE_COLUMNS = repository.CHANGE_COLUMNS
# Arbitrary constant naming the advisory lock that serialises journal appends.
JOURNAL_LOCK = 724_200_101


@dataclass
class PendingChange:
    object_type: str
    object_id: str
    action: str
    regions: tuple[str, ...]
    summary: dict[str, Any] | None = None
    at: datetime = field(default_factory=clock.now)
    event: dict[str, Any] | None = None
    """The ``message_events`` row of the same transition (``EVENT_COLUMNS``), if any."""


def record_change(
    session: Session,
    object_type: str,
    object_id: object,
    action: str,
    regions: Sequence[str | None],
    summary: dict[str, Any] | None = None,
    *,
    event: dict[str, Any] | None = None,
) -> None:
    """Queue a change visible to the given counties (one or two; duplicates collapse),
    with the message ``event`` (``EVENT_COLUMNS``) that records the same transition."""
    visible = tuple(dict.fromkeys(r for r in regions if r))
    if not visible:
        return
    session.info.setdefault(_PENDING, []).append(
        PendingChange(object_type, str(object_id), action, visible[:2], summary, event=event)
    )


def write_queued_events(session: Session) -> None:
    """Insert now the message events queued with changes (their changes stay queued):
    for a transaction that reads a message's history before it commits."""
    queued = [c.event for c in session.info.get(_PENDING, ()) if c.event is not None]
    if queued:
        repository.insert_events(session, queued)
        for change in session.info[_PENDING]:
            change.event = None


def lock_journals(session: Session) -> None:
    """Serialise appends to the change feed and the audit chain until this transaction ends.

    PostgreSQL: a transaction-scoped advisory lock (re-entrant within the
    transaction). SQLite: the transaction already holds the write lock.
    """
    repository.take_advisory_lock(session, JOURNAL_LOCK)


lock_feed = lock_journals


@event.listens_for(Session, "before_commit")
def _append_changes(session: Session) -> None:
    if not session.info.get(_PENDING):
        return
    session.flush()  # take every row lock before the journal lock
    pending: list[PendingChange] = session.info.pop(_PENDING, [])
    rows = [
        {
            "at": c.at,
            "object_type": c.object_type,
            "object_id": c.object_id,
            "action": c.action,
            "region_a": c.regions[0],
            "region_b": c.regions[1] if len(c.regions) > 1 else None,
            "summary": c.summary,
        }
        for c in pending
    ]
    events = [c.event for c in pending]
    repository.append_rows(session, rows, lock_key=JOURNAL_LOCK, events=events)  # takes the lock
    session.info[_LOCKED_AT_COMMIT] = True


def lock_journals_at_commit(session: Session) -> None:
    """``lock_journals`` for another journal appended while the session commits
    (the audit chain): no statement when the change feed's append took the lock
    already in this commit. Nothing rolls back to a savepoint after that append,
    so the lock is still held."""
    if not session.info.get(_LOCKED_AT_COMMIT):
        lock_journals(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_lock(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_LOCKED_AT_COMMIT, None)


@event.listens_for(Session, "after_rollback")
def _drop_changes(session: Session) -> None:
    session.info.pop(_PENDING, None)

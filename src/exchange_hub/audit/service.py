"""The audit trail: append-only, each row chained to the previous by a keyed hash.

Rows for work that succeeds are appended inside the work's own transaction,
at commit time, so the trail and the data never disagree. Refusals (401,
403) are appended in a transaction of their own, since the request that
caused them rolls back.

Every entry passes through ``record``, which masks ID numbers and mobile
numbers in all its text (a look-up's purpose, a user name typed at sign-in, a
member's name in the actor, a refused path, a request id): free text in the
audit trail is stored masked, as in the logs (SPEC §7).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from exchange_hub import clock
from exchange_hub.audit import repository
from exchange_hub.changes import lock_journals_at_commit
from exchange_hub.crypto import KeyRing
from exchange_hub.masking import mask_values
from exchange_hub.models import AuditEvent
from exchange_hub.scope import Caller, scope_prefix

GENESIS = "genesis"
PURGE_ACTION = "audit.purge"
_PENDING = "audit_pending"
_KEYRING = "keyring"


@dataclass
class AuditEntry:
    action: str
    outcome: str = "ok"
    actor: str = "system"
    member_id: uuid.UUID | None = None
    region: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    client: str | None = None
    request_id: str | None = None
    detail: dict[str, Any] | None = None
    at: datetime = field(default_factory=clock.now)


def entry_for(caller: Caller | None, action: str, **values: Any) -> AuditEntry:
    if caller is None:
        return AuditEntry(action=action, **values)
    return AuditEntry(
        action=action,
        actor=caller.label,
        member_id=caller.member_id,
        region=caller.region,
        **values,
    )


def masked(entry: AuditEntry) -> AuditEntry:
    """The entry with ID numbers and mobile numbers masked in every text it holds."""
    texts = {
        f.name: mask_values(value)
        for f in fields(entry)
        if isinstance(value := getattr(entry, f.name), str | dict | list)
    }
    return replace(entry, **texts)


def record(session: Session, entry: AuditEntry) -> None:
    """Queue an audit row, masked; it is chained and written when the session commits."""
    session.info.setdefault(_PENDING, []).append(masked(entry))


def record_now(factory: sessionmaker[Session], entry: AuditEntry) -> None:
    """Write an audit row in its own transaction (for refusals whose request rolls back)."""
    with factory() as session, session.begin():
        record(session, entry)


def _payload(row: AuditEvent) -> bytes:
    values = {
        "id": row.id,
        "at": row.at.isoformat(),
        "member_id": str(row.member_id) if row.member_id else None,
        "actor": row.actor,
        "region": row.region,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "outcome": row.outcome,
        "client": row.client,
        "request_id": row.request_id,
        "detail": row.detail,
    }
    return json.dumps(values, sort_keys=True, ensure_ascii=False, default=str).encode()


def _append_pending(session: Session) -> None:
    if not session.info.get(_PENDING):
        return
    session.flush()  # take every row lock before the journal lock
    pending: list[AuditEntry] = session.info.pop(_PENDING, [])
    ring: KeyRing = session.info[_KEYRING]
    lock_journals_at_commit(session)
    previous: str | None = None  # the first row links to the newest one, read as it is written
    for entry in pending:
        # The insert returns the id (which the hash covers) and exactly what the
        # database stored, which is what ``verify_chain`` will read back.
        row = repository.insert_chained(session, asdict(entry), prev_hash=previous, first=GENESIS)
        row.hash = ring.chain_hash(row.prev_hash, _payload(row))
        session.flush()
        previous = row.hash


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        _append_pending(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None
    last_id: int | None = None
    last_hash: str | None = None


def iter_chain(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        rows = repository.events_after(session, last_id, batch)
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        session.expunge_all()


def _expected_start(session: Session) -> str:
    """The ``prev_hash`` the oldest kept row must carry: genesis, or the last purged row's hash."""
    purge = repository.latest_event_of_action(session, PURGE_ACTION)
    if purge is None or not purge.detail:
        return GENESIS
    return str(purge.detail.get("last_hash", GENESIS))


def verify_chain(session: Session, ring: KeyRing) -> VerifyResult:
    """Recompute every link; an edited row breaks its own hash, a deleted one the next link.

    The oldest kept row must link to genesis, or (after a retention purge) to
    the hash the purge recorded, so rows removed from the start are found too.
    The result carries the newest hash: kept elsewhere, it also reveals a
    removal of the newest rows.
    """
    previous = _expected_start(session)
    checked = 0
    last_id: int | None = None
    for row in iter_chain(session):
        if row.prev_hash != previous:
            return VerifyResult(False, checked, row.id, "link to the previous row is broken")
        if row.hash != ring.chain_hash(row.prev_hash, _payload(row)):
            return VerifyResult(False, checked, row.id, "row content does not match its hash")
        previous, last_id = row.hash, row.id
        checked += 1
    return VerifyResult(
        True, checked, last_id=last_id, last_hash=None if last_id is None else previous
    )


def purge_before(session: Session, cutoff: datetime) -> int:
    """Delete audit rows older than ``cutoff`` (retention), recording where the chain resumes."""
    last = repository.latest_event_before(session, cutoff)
    if last is None:
        return 0
    through_id, last_hash = last.id, last.hash
    purged = repository.delete_events_through(session, through_id)
    record(
        session,
        AuditEntry(
            action=PURGE_ACTION,
            detail={"through_id": through_id, "last_hash": last_hash, "rows": purged,
                    "cutoff": cutoff.isoformat()},
        ),
    )  # fmt: skip
    return int(purged or 0)


@dataclass(frozen=True)
class EventFilter:
    """What the console's audit page asks for: newest first, below a cursor, in a time span."""

    within: str
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    """Exclusive."""
    before_id: int | None = None


def list_events(
    session: Session,
    *,
    within: str,
    action: str | None = None,
    outcome: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """Oldest first from ``after_id``: the API's paging, which a reader follows to the end."""
    return repository.events_page(
        session, region_prefix=scope_prefix(within), action=action, outcome=outcome,
        after_id=after_id, limit=limit,
    )  # fmt: skip


def newest_events(session: Session, wanted: EventFilter, *, limit: int) -> Sequence[AuditEvent]:
    """Newest first (the console's page and its CSV export); ``before_id`` pages further back."""
    return repository.newest_events(
        session, region_prefix=scope_prefix(wanted.within), action=wanted.action,
        outcome=wanted.outcome, since=wanted.since, until=wanted.until,
        before_id=wanted.before_id, limit=limit,
    )  # fmt: skip

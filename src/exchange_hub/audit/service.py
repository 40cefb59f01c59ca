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
from exchange_hub.crypto import CryptoError, KeyRing
from exchange_hub.masking import mask_values
from exchange_hub.models import AuditEvent
from exchange_hub.scope import Caller, scope_prefix

GENESIS = "genesis"
PURGE_ACTION = "audit.purge"
KEY_CHANGE_ACTION = "audit.chain_key_changed"
"""The row where the chain's MAC changes (a change of profile, HMAC-SHA256 ⇄ HMAC-SM3):
its ``detail`` names the key before (``from``) and after (``to``) as ``<alg>.<kid>``."""
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
    while pending:
        # The insert returns the id (which the hash covers) and exactly what the
        # database stored, which is what ``verify_chain`` will read back.
        entry = pending[0]
        row = repository.insert_chained(session, asdict(entry), prev_hash=previous, first=GENESIS)
        if previous is None and _key_changes(row.prev_hash, ring):
            _become_key_change(row, ring)  # the entry follows it, in the next row
        else:
            pending.pop(0)
        row.hash = ring.chain_hash(row.prev_hash, _payload(row))
        session.flush()
        previous = row.hash


def key_of(link: str) -> str | None:
    """``<alg>.<kid>`` of a chain link (``None`` for genesis)."""
    alg, _, rest = link.partition(".")
    kid = rest.partition(".")[0]
    return f"{alg}.{kid}" if kid else None


def _current_key(ring: KeyRing) -> str:
    return ring.chain_key()


def _key_changes(previous_link: str, ring: KeyRing) -> bool:
    before = key_of(previous_link)
    return before is not None and before != _current_key(ring)


def _become_key_change(row: AuditEvent, ring: KeyRing) -> None:
    """Turn the row just inserted into the record of a change of the chain's MAC (same
    flush as its hash: no statement more); the entry it held goes into the next row."""
    row.action, row.actor, row.outcome = KEY_CHANGE_ACTION, "system", "ok"
    row.member_id = row.region = row.object_type = row.object_id = None
    row.client = row.request_id = None
    row.detail = {"from": key_of(row.prev_hash), "to": _current_key(ring)}


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        _append_pending(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


@dataclass
class Segment:
    """A run of chain links made with one audit key (``<alg>.<kid>``)."""

    key: str
    first_id: int
    last_id: int
    rows: int = 1


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None
    last_id: int | None = None
    last_hash: str | None = None
    segments: tuple[Segment, ...] = ()


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
    Each link is checked with the audit key it names; the key may change only at
    a row that records the change (``KEY_CHANGE_ACTION``), and each run of one
    key is reported as a segment. The result carries the newest hash: kept
    elsewhere, it also reveals a removal of the newest rows.
    """
    previous = _expected_start(session)
    checked = 0
    last_id: int | None = None
    segments: list[Segment] = []
    for row in iter_chain(session):
        problem = _link_problem(row, previous, ring)
        if problem:
            return VerifyResult(False, checked, row.id, problem, segments=tuple(segments))
        key = str(key_of(row.hash))
        if segments and segments[-1].key == key:
            segments[-1].last_id, segments[-1].rows = row.id, segments[-1].rows + 1
        else:
            segments.append(Segment(key, row.id, row.id))
        previous, last_id = row.hash, row.id
        checked += 1
    return VerifyResult(
        True, checked, last_id=last_id, last_hash=None if last_id is None else previous,
        segments=tuple(segments),
    )  # fmt: skip


def _link_problem(row: AuditEvent, previous: str, ring: KeyRing) -> str | None:
    if row.prev_hash != previous:
        return "link to the previous row is broken"
    key, before = key_of(row.hash), key_of(previous)
    if key is None:
        return "row has no hash"
    if before is not None and key != before and not _records_change(row, before, key):
        return f"audit key changed from {before} to {key} without a record of the change"
    try:
        expected = ring.chain_hash(row.prev_hash, _payload(row), kid=key.partition(".")[2])
    except (CryptoError, KeyError):
        return f"row is hashed with {key}, which is not in the key ring"
    if row.hash != expected:
        return "row content does not match its hash"
    return None


def _records_change(row: AuditEvent, before: str, key: str) -> bool:
    return row.action == KEY_CHANGE_ACTION and row.detail == {"from": before, "to": key}


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

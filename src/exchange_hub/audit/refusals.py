"""Failed authentications: audited once per kind and interval, with a count.

A wrong key costs its sender nothing, while each audit row is a link of the
chain, appended under the journal lock: 200 bad keys used to write 200 rows
(issue 15, finding 9). Now the first failure of a kind — client address,
reason, and the member when the key was valid — in an interval of
``HUB_AUTH_FAILURE_INTERVAL_SECONDS`` is audited at once, as before, with
``count: 1``; the ones after it only raise a counter (``auth_failure_counts``,
outside the chain). Once the interval has closed, one more row carries their
number (``count``, ``repeated: true``), so the counts of the ``auth.refused``
rows add up to the failures, and the chain stays append-only and verifiable.

That summary row is written by the next failure of the same kind, or by the
job ``audit.flush_refusals``, whichever comes first; deleting the counter in
the same transaction makes sure it is written once, also with several nodes.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from exchange_hub import clock
from exchange_hub.audit import repository
from exchange_hub.audit.service import AuditEntry, record
from exchange_hub.models import AuthFailureCount

ACTION = "auth.refused"


def window_start(at: datetime, interval_seconds: int) -> datetime:
    """The start of the interval holding ``at``; intervals are aligned to the epoch."""
    seconds = int(at.timestamp()) // interval_seconds * interval_seconds
    return datetime.fromtimestamp(seconds, UTC)


def kind_of(entry: AuditEntry) -> str:
    reason = (entry.detail or {}).get("reason", "")
    parts = (entry.client or "", str(reason), str(entry.member_id or ""))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def record_failure(
    factory: sessionmaker[Session], entry: AuditEntry, interval_seconds: int
) -> None:
    """Count one failed authentication; audit it when it is the first of its kind and
    interval (after the summary of the kind's earlier interval, if one is due)."""
    kind, start = kind_of(entry), window_start(entry.at, interval_seconds)
    with factory() as session, session.begin():
        if _count_repeat(session, kind, start, entry.at):
            return
        _flush(session, start, kind=kind)
        if _open_window(session, kind, start, entry):
            record(session, replace(entry, detail={**(entry.detail or {}), "count": 1}))
        else:  # another request opened it a moment ago
            _count_repeat(session, kind, start, entry.at)


def flush_closed(session: Session, interval_seconds: int) -> int:
    """Summarise every interval that has closed; the number of summary rows written."""
    return _flush(session, window_start(clock.now(), interval_seconds))


def _count_repeat(session: Session, kind: str, start: datetime, at: datetime) -> bool:
    """One more failure in an open interval; False when the interval has no counter yet."""
    return repository.count_repeat_failure(session, kind, start, at)


def _open_window(session: Session, kind: str, start: datetime, entry: AuditEntry) -> bool:
    """The counter of a new interval; False when a concurrent request created it first."""
    counter = AuthFailureCount(
        kind=kind, window_start=start, client=entry.client,
        reason=str((entry.detail or {}).get("reason", "")), member_id=entry.member_id,
        actor=entry.actor, region=entry.region, repeats=0, last_at=entry.at,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(counter)
    except IntegrityError:
        return False
    return True


def _flush(session: Session, before: datetime, *, kind: str | None = None) -> int:
    """Delete the counters of intervals starting before ``before`` (of ``kind``) and append
    one summary row for each that counted repeats. ``DELETE … RETURNING`` makes the
    deleting transaction the only writer."""
    closed = repository.take_failure_counters_before(session, before, kind=kind)
    written = 0
    for row in sorted(closed, key=lambda row: (row.window_start, row.last_at)):
        if row.repeats:
            record(session, _summary(row))
            written += 1
    return written


def _summary(row: repository.FailureCounter) -> AuditEntry:
    detail = {
        "reason": row.reason,
        "count": row.repeats,
        "repeated": True,
        "since": row.window_start.isoformat(),
        "last_at": row.last_at.isoformat(),
    }
    return AuditEntry(
        action=ACTION, outcome="refused", actor=row.actor, member_id=row.member_id,
        region=row.region, client=row.client, detail=detail,
    )  # fmt: skip

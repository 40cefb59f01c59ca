"""Keeping the exchange figures up to date from ``messages`` (job ``metrics.refresh``).

What is stored (``models/metrics.py``), per role, county, month, counterpart
province and kind:

- ``metrics_exchange``: routed, answered, answered on time, not found,
  received — everything that no longer depends on the evaluation time once
  it has happened;
- ``metrics_pending``: messages still waiting for feedback or receipt, keyed
  by their exact deadline, so ``due`` at any time T adds only those whose
  deadline lies before T (exact, not rounded to a day);
- ``metrics_latency``: a mergeable histogram per leg (``histogram.py``).

Refresh: a partition is one (role, county, month). Every message whose
``updated_at`` is newer than the watermark minus an overlap window marks its
two partitions dirty (unless ``metrics_applied`` says that exact version was
already counted); dirty partitions are recomputed from the raw rows with the
same GROUP BY a full rebuild uses, so a refresh is idempotent and any number
of runs, concurrent or repeated, converge on the figures of a raw scan.
On PostgreSQL an advisory lock serialises refreshes; SQLite's write lock does. The
statements themselves are in ``aggregates_repository.py``.

Reading never refreshes (``unapplied`` is read-only): ``figures.load_figures``
reads the partitions that changes made dirty from the raw rows, with the same
GROUP BYs, and the clean ones from the aggregates, so figures are exact on a
read session or a replica however far behind the job is. ``try_refresh`` is
the short opportunistic refresh a read schedules when the backlog grows old:
on PostgreSQL it gives up at once when another refresh holds the lock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from exchange_hub.metrics import aggregates_repository as repository
from exchange_hub.models import RefreshState

ROLES = ("responder", "requester")
REFRESH_NAME = "messages"
_REFRESH_LOCK = 724_200_105
_CHUNK = 400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- rebuild and refresh ----------------------------------------------------------
@dataclass(frozen=True)
class RefreshResult:
    changed_messages: int
    partitions: int
    watermark: datetime
    rebuilt: bool = False


def _lock(session: Session, *, wait: bool = True) -> bool:
    """One refresh at a time (``wait=False``, PostgreSQL: False when another one runs)."""
    return repository.take_refresh_lock(session, _REFRESH_LOCK, wait=wait)


def _overlap(session: Session) -> timedelta:
    settings = session.info.get("settings")
    seconds = getattr(settings, "figures_refresh_overlap_seconds", 300)
    return timedelta(seconds=seconds)


def rebuild(session: Session) -> RefreshResult:
    """Recompute every figure from the raw messages (first run, or after a repair)."""
    _lock(session)
    repository.truncate_aggregates(session)
    for role in ROLES:
        repository.clear_partitions(session, role, None, None)
        repository.fill_partitions(session, role, [])
    watermark = _as_utc(repository.latest_message_change(session) or _EPOCH)
    repository.forget_all_applied(session)
    recent = repository.message_versions_since(session, watermark - _overlap(session))
    applied = [{"message_id": row.id, "updated_at": row.updated_at} for row in recent]
    for chunk in _chunks(applied, 5_000):
        repository.remember_applied(session, chunk)
    _save_watermark(session, watermark)
    session.flush()
    repository.analyze_aggregates(session)
    return RefreshResult(len(applied), -1, watermark, rebuilt=True)


@dataclass(frozen=True)
class Unapplied:
    """What the aggregates do not hold yet: the partitions of messages changed since the
    last refresh. ``built`` is False before the first refresh (nothing is held)."""

    built: bool
    partitions: dict[tuple[str, str], set[str]]
    """``(role, period)`` → the counties whose figures must be read raw."""
    oldest: datetime | None
    """The ``updated_at`` of the oldest change not folded in (None: none)."""
    changed: Sequence = ()  # type: ignore[type-arg]
    recent: Sequence = ()  # type: ignore[type-arg]

    def regions(self, role: str, period: str) -> set[str]:
        return self.partitions.get((role, period), set())


def unapplied(session: Session) -> Unapplied:
    """The changes the aggregates lack, read without writing anything."""
    state = session.get(RefreshState, REFRESH_NAME)
    if state is None:
        oldest = repository.earliest_message_change(session)
        return Unapplied(False, {}, _as_utc(oldest) if oldest is not None else None)
    since = _as_utc(state.watermark) - _overlap(session)
    recent = repository.message_versions_since(session, since)
    seen = repository.applied_versions_since(session, since)
    changed = [row for row in recent if _applied_version(seen, row.id) != _as_utc(row.updated_at)]
    oldest = min((_as_utc(row.updated_at) for row in changed), default=None)
    return Unapplied(True, _dirty_partitions(changed), oldest, changed, recent)


def refresh(session: Session) -> RefreshResult:
    """Fold every message changed since the last run into the figures (idempotent)."""
    _lock(session)
    return _refresh_locked(session)


def try_refresh(session: Session) -> RefreshResult | None:
    """``refresh`` unless another one is running (PostgreSQL); None when it gave way."""
    if not _lock(session, wait=False):
        return None
    return _refresh_locked(session)


def _refresh_locked(session: Session) -> RefreshResult:
    state = session.get(RefreshState, REFRESH_NAME)
    if state is None:
        return rebuild(session)
    overlap = _overlap(session)
    pending = unapplied(session)
    for (role, period), regions in pending.partitions.items():
        for chunk in _chunks(sorted(regions), _CHUNK):
            repository.refill_partitions(session, role, period, chunk)
    watermark = max([_as_utc(state.watermark), *(_as_utc(r.updated_at) for r in pending.recent)])
    _remember_applied(session, pending.changed, watermark - overlap)
    state.watermark = watermark
    session.flush()
    count = sum(len(regions) for regions in pending.partitions.values())
    return RefreshResult(len(pending.changed), count, watermark)


def _applied_version(seen: dict, message_id: object) -> datetime | None:  # type: ignore[type-arg]
    version = seen.get(message_id)
    return _as_utc(version) if version is not None else None


def _dirty_partitions(changed: Iterable) -> dict[tuple[str, str], set[str]]:  # type: ignore[type-arg]
    partitions: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in changed:
        partitions[("responder", row.period)].add(row.to_region)
        partitions[("requester", row.period)].add(row.from_region)
    return partitions


def _remember_applied(session: Session, changed: Sequence, horizon: datetime) -> None:  # type: ignore[type-arg]
    ids = [row.id for row in changed]
    for chunk in _chunks(ids, _CHUNK):
        repository.forget_applied(session, chunk)
    rows = [{"message_id": r.id, "updated_at": r.updated_at} for r in changed]
    for chunk in _chunks(rows, 5_000):
        repository.remember_applied(session, chunk)
    repository.forget_applied_up_to(session, horizon)


def _save_watermark(session: Session, watermark: datetime) -> None:
    state = session.get(RefreshState, REFRESH_NAME)
    if state is None:
        session.add(RefreshState(name=REFRESH_NAME, watermark=watermark))
    else:
        state.watermark = watermark


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def counterpart_province_code(code: str) -> str:
    """The province of a county code, as ``counterpart_province`` computes it in SQL."""
    return code[:2] + "0000"

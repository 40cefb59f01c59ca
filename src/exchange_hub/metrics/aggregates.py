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
On PostgreSQL an advisory lock serialises refreshes; SQLite's write lock does.

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

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from exchange_hub.metrics import histogram
from exchange_hub.models import (
    AppliedMessage,
    ExchangeCount,
    LatencyHistogram,
    Message,
    PendingCount,
    RefreshState,
)

ROLES = ("responder", "requester")
REFRESH_NAME = "messages"
_REFRESH_LOCK = 724_200_105
_CHUNK = 400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
M = Message.__table__.c


def region_column(role: str) -> ColumnElement[str]:
    """The county seen from ``role``: ``to_region`` (responder) or ``from_region`` (requester)."""
    return M.to_region if role == "responder" else M.from_region


def counterpart_province(role: str) -> ColumnElement[str]:
    other = M.from_region if role == "responder" else M.to_region
    return func.substr(other, 1, 2, type_=String) + literal("0000", String)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _counted() -> ColumnElement[bool]:
    return M.state != "withdrawn"


# -- the three GROUP BYs -------------------------------------------------------------
def exchange_select(role: str, where: Sequence[ColumnElement[bool]]):  # type: ignore[no-untyped-def]
    answered = M.answered_at.is_not(None)
    region, counterpart = region_column(role), counterpart_province(role)
    return (
        select(
            literal(role, String).label("role"), M.period, region.label("region"),
            counterpart.label("counterpart"), M.kind,
            func.count().label("routed"),
            _count(answered).label("answered"),
            _count(and_(answered, M.answered_at <= M.deadline)).label("answered_on_time"),
            _count(and_(answered, M.feedback_result == "not_found")).label("not_found"),
            _count(M.received_at.is_not(None)).label("received"),
        )
        .where(_counted(), *where)
        .group_by(M.period, region, counterpart, M.kind)
        .order_by(M.period, region, counterpart, M.kind)
    )  # fmt: skip


def pending_select(role: str, where: Sequence[ColumnElement[bool]]):  # type: ignore[no-untyped-def]
    waiting_answer = and_(M.needs_feedback.is_(True), M.answered_at.is_(None))
    waiting_receipt = and_(M.needs_receipt.is_(True), M.received_at.is_(None))
    region, counterpart = region_column(role), counterpart_province(role)
    return (
        select(
            literal(role, String).label("role"), M.period, region.label("region"),
            counterpart.label("counterpart"), M.kind, M.deadline,
            _count(waiting_answer).label("unanswered"),
            _count(waiting_receipt).label("unreceived"),
        )
        .where(_counted(), waiting_answer | waiting_receipt, *where)
        .group_by(M.period, region, counterpart, M.kind, M.deadline)
        .order_by(M.period, region, counterpart, M.kind, M.deadline)
    )  # fmt: skip


def whole_seconds_between(
    start: ColumnElement[datetime], end: ColumnElement[datetime], dialect: str
) -> ColumnElement[int]:
    """Floor of ``end - start`` in seconds, as ``definitions.whole_seconds`` computes it.

    PostgreSQL: the interval's epoch as a double is exact to the microsecond
    for any latency below a century, so its floor is exact. SQLite: integer
    microseconds from the stored text 'YYYY-MM-DD HH:MM:SS.ffffff'.
    """
    if dialect == "postgresql":
        return cast(func.floor(func.date_part("epoch", end - start)), BigInteger)
    return (_sqlite_micros(end) - _sqlite_micros(start)) // 1_000_000


def _sqlite_micros(column: ColumnElement[datetime]) -> ColumnElement[int]:
    whole = cast(func.strftime("%s", column), Integer) * 1_000_000
    return whole + cast(func.substr(column, 21, 6), Integer)


def bucket_expression(seconds: ColumnElement[int]) -> ColumnElement[int]:
    """``histogram.bucket_of`` as a SQL CASE (integer arithmetic only)."""
    whens: list[tuple[ColumnElement[bool], ColumnElement[int]]] = [
        (seconds < 0, literal(0)),
        (seconds < histogram.EXACT_BELOW, seconds),
    ]
    for upper, step, offset in histogram.bucket_ladder():
        whens.append((seconds < upper, seconds // step + offset))
    last_upper, last_step, last_offset = histogram.bucket_ladder()[-1]
    return case(*whens, else_=literal(last_upper // last_step - 1 + last_offset))


def _leg_buckets(dialect: str, role: str, where: Sequence[ColumnElement[bool]]):  # type: ignore[no-untyped-def]
    """``(period, region, kind, leg, bucket, n)`` for every completed leg, as one UNION ALL."""
    region = region_column(role)
    parts = []
    for leg, end_column in (
        ("delivered", M.delivered_at),
        ("received", M.received_at),
        ("answered", M.answered_at),
    ):
        seconds = whole_seconds_between(M.submitted_at, end_column, dialect)
        parts.append(
            select(
                M.period, region.label("region"), M.kind, literal(leg, String).label("leg"),
                seconds.label("seconds"),
            ).where(_counted(), end_column.is_not(None), *where)
        )  # fmt: skip
    # OFFSET 0 keeps the subquery from being flattened, so the CASE ladder reads
    # the computed seconds instead of recomputing them in every branch.
    legs = select(union_all(*parts).subquery()).offset(0).subquery()
    bucket = bucket_expression(legs.c.seconds).label("bucket")
    return (
        select(legs.c.period, legs.c.region, legs.c.kind, legs.c.leg, bucket,
               func.count().label("n"))
        .group_by(legs.c.period, legs.c.region, legs.c.kind, legs.c.leg, bucket)
        .subquery()
    )  # fmt: skip


def latency_select(dialect: str, role: str, where: Sequence[ColumnElement[bool]]):  # type: ignore[no-untyped-def]
    """One histogram per (period, county, kind, leg), packed into JSON by the database."""
    buckets = _leg_buckets(dialect, role, where)
    pack = func.json_object_agg if dialect == "postgresql" else func.json_group_object
    keys = (buckets.c.period, buckets.c.region, buckets.c.kind, buckets.c.leg)
    query = select(
        literal(role, String).label("role"), *keys, func.sum(buckets.c.n).label("count"),
        pack(buckets.c.bucket, buckets.c.n, type_=JSON).label("buckets"),
    )  # fmt: skip
    return query.group_by(*keys).order_by(*keys)


def _fill(session: Session, role: str, where: Sequence[ColumnElement[bool]]) -> None:
    """Insert in primary-key order: a region's rows of a month end up on a few adjacent pages."""
    exchange = exchange_select(role, where)
    pending = pending_select(role, where)
    session.execute(
        insert(ExchangeCount).from_select(list(exchange.selected_columns.keys()), exchange)
    )
    session.execute(
        insert(PendingCount).from_select(list(pending.selected_columns.keys()), pending)
    )
    latency = latency_select(session.get_bind().dialect.name, role, where)
    session.execute(
        insert(LatencyHistogram).from_select(list(latency.selected_columns.keys()), latency)
    )


def _clear(session: Session, role: str, period: str | None, regions: Sequence[str] | None) -> None:
    for table in (ExchangeCount, PendingCount, LatencyHistogram):
        statement = delete(table).where(table.role == role)
        if period is not None:
            statement = statement.where(table.period == period)
        if regions is not None:
            statement = statement.where(table.region.in_(regions))
        session.execute(statement)


# -- rebuild and refresh ----------------------------------------------------------
@dataclass(frozen=True)
class RefreshResult:
    changed_messages: int
    partitions: int
    watermark: datetime
    rebuilt: bool = False


def _lock(session: Session, *, wait: bool = True) -> bool:
    """One refresh at a time; the GROUP BYs get memory enough not to spill to disk.

    With ``wait=False`` (PostgreSQL) False when another refresh holds the lock."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    taken = session.scalar(text(f"SELECT {function}(:key)::text"), {"key": _REFRESH_LOCK})
    if not wait and taken != "true":
        return False
    session.execute(text("SET LOCAL work_mem = '256MB'"))
    session.execute(text("SET LOCAL jit = off"))  # compiling costs more than it saves here
    return True


def _overlap(session: Session) -> timedelta:
    settings = session.info.get("settings")
    seconds = getattr(settings, "figures_refresh_overlap_seconds", 300)
    return timedelta(seconds=seconds)


def rebuild(session: Session) -> RefreshResult:
    """Recompute every figure from the raw messages (first run, or after a repair)."""
    _lock(session)
    if session.get_bind().dialect.name == "postgresql":
        # No dead rows left behind for the index to visit (DELETE would leave millions).
        session.execute(text("TRUNCATE metrics_exchange, metrics_pending, metrics_latency"))
    for role in ROLES:
        _clear(session, role, None, None)
        _fill(session, role, [])
    watermark = session.scalar(select(func.max(M.updated_at))) or _EPOCH
    watermark = _as_utc(watermark)
    session.execute(delete(AppliedMessage))
    recent = select(M.id, M.updated_at).where(M.updated_at > watermark - _overlap(session))
    applied = [{"message_id": i, "updated_at": u} for i, u in session.execute(recent)]
    for chunk in _chunks(applied, 5_000):
        session.execute(insert(AppliedMessage), chunk)
    _save_watermark(session, watermark)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE metrics_exchange, metrics_pending, metrics_latency"))
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
        oldest = session.scalar(select(func.min(M.updated_at)))
        return Unapplied(False, {}, _as_utc(oldest) if oldest is not None else None)
    since = _as_utc(state.watermark) - _overlap(session)
    recent = session.execute(
        select(M.id, M.updated_at, M.to_region, M.from_region, M.period).where(M.updated_at > since)
    ).all()
    seen = dict(
        session.execute(
            select(AppliedMessage.message_id, AppliedMessage.updated_at).where(
                AppliedMessage.updated_at > since
            )
        ).all()
    )
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
            _clear(session, role, period, chunk)
            _fill(session, role, [M.period == period, region_column(role).in_(chunk)])
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
        session.execute(delete(AppliedMessage).where(AppliedMessage.message_id.in_(chunk)))
    rows = [{"message_id": r.id, "updated_at": r.updated_at} for r in changed]
    for chunk in _chunks(rows, 5_000):
        session.execute(insert(AppliedMessage), chunk)
    session.execute(delete(AppliedMessage).where(AppliedMessage.updated_at <= horizon))


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

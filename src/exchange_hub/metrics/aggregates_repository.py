"""The SQL of the figures' refresh (``aggregates.py``): the three GROUP BYs over
``messages`` and the writes of the aggregate tables and ``metrics_applied``.

The same GROUP BYs serve a full rebuild, a partition's refresh and the raw
reads of ``figures.py``, so the three agree by construction. Nothing here
commits; the refresh flushes, its boundary commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Integer,
    Row,
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
)

M = Message.__table__.c
AGGREGATE_TABLES = (ExchangeCount, PendingCount, LatencyHistogram)


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


def fill_partitions(session: Session, role: str, where: Sequence[ColumnElement[bool]]) -> None:
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


def clear_partitions(
    session: Session, role: str, period: str | None, regions: Sequence[str] | None
) -> None:
    for table in AGGREGATE_TABLES:
        statement = delete(table).where(table.role == role)
        if period is not None:
            statement = statement.where(table.period == period)
        if regions is not None:
            statement = statement.where(table.region.in_(regions))
        session.execute(statement)


def partition_where(
    role: str, period: str, regions: Sequence[str] | None = None
) -> list[ColumnElement[bool]]:
    """The messages of one month (and of these counties, seen from ``role``)."""
    where = [M.period == period]
    if regions is not None:
        where.append(region_column(role).in_(regions))
    return where


def refill_partitions(session: Session, role: str, period: str, regions: Sequence[str]) -> None:
    """Recompute the figures of these counties' month from the raw messages."""
    clear_partitions(session, role, period, regions)
    fill_partitions(session, role, partition_where(role, period, regions))


def take_refresh_lock(session: Session, key: int, *, wait: bool) -> bool:
    """PostgreSQL's transaction advisory lock ``key`` (``wait=False``: False when taken),
    and memory enough for the GROUP BYs not to spill to disk. Elsewhere: True."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    taken = session.scalar(text(f"SELECT {function}(:key)::text"), {"key": key})
    if not wait and taken != "true":
        return False
    session.execute(text("SET LOCAL work_mem = '256MB'"))
    session.execute(text("SET LOCAL jit = off"))  # compiling costs more than it saves here
    return True


def truncate_aggregates(session: Session) -> None:
    """Empty the aggregate tables at once on PostgreSQL (DELETE would leave millions of
    dead rows for the index to visit); ``clear_partitions`` does it elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("TRUNCATE metrics_exchange, metrics_pending, metrics_latency"))


def analyze_aggregates(session: Session) -> None:
    """Fresh planner statistics after a rebuild (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE metrics_exchange, metrics_pending, metrics_latency"))


def latest_message_change(session: Session) -> datetime | None:
    latest: datetime | None = session.scalar(select(func.max(M.updated_at)))
    return latest


def earliest_message_change(session: Session) -> datetime | None:
    earliest: datetime | None = session.scalar(select(func.min(M.updated_at)))
    return earliest


def message_versions_since(
    session: Session, since: datetime
) -> Sequence[Row[Any, datetime, str, str, str]]:
    """``(id, updated_at, to_region, from_region, period)`` of messages changed after ``since``."""
    query = select(M.id, M.updated_at, M.to_region, M.from_region, M.period)
    return session.execute(query.where(M.updated_at > since)).all()


def applied_versions_since(session: Session, since: datetime) -> dict[Any, datetime]:
    """message id → the ``updated_at`` already folded in, for versions after ``since``."""
    query = select(AppliedMessage.message_id, AppliedMessage.updated_at)
    rows = session.execute(query.where(AppliedMessage.updated_at > since)).all()
    return {message_id: updated_at for message_id, updated_at in rows}


def forget_all_applied(session: Session) -> None:
    session.execute(delete(AppliedMessage))


def forget_applied(session: Session, message_ids: Sequence[Any]) -> None:
    query = delete(AppliedMessage).where(AppliedMessage.message_id.in_(message_ids))
    session.execute(query)


def forget_applied_up_to(session: Session, horizon: datetime) -> None:
    session.execute(delete(AppliedMessage).where(AppliedMessage.updated_at <= horizon))


def remember_applied(session: Session, versions: Sequence[dict[str, Any]]) -> None:
    """Insert ``{"message_id", "updated_at"}`` rows (executemany)."""
    session.execute(insert(AppliedMessage), versions)

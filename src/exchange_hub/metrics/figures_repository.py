"""The queries of the figures' reads (``figures.py``): sums of the aggregate tables,
the same sums over the refresh's GROUP BYs of raw messages, and the messages
changed after an evaluation time.

Each query sums up to the level asked for in the database, so a province
bulletin reads a few hundred rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Row,
    String,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from exchange_hub.metrics import aggregates_repository as aggregates
from exchange_hub.metrics.aggregates_repository import M, region_column
from exchange_hub.models import ExchangeCount, LatencyHistogram, PendingCount


@dataclass(frozen=True)
class Selection:
    """Which aggregate rows to read and how to group them."""

    role: str
    months: Sequence[str]
    scope: str
    as_of: datetime
    level: str
    matrix_level: str | None = None
    with_latency: bool = True
    latency_legs: tuple[tuple[str, str], ...] | None = None
    """Only these (kind, leg) histograms; None for all."""


def code_range(scope: str) -> tuple[str, str] | None:
    """``[low, high)`` of 6-digit codes inside a region (None for the nation).

    A range rather than ``LIKE '44%'`` so the primary-key index serves it on
    every collation.
    """
    if scope == "000000":
        return None
    prefix = scope[:2] if scope.endswith("0000") else scope[:4] if scope.endswith("00") else scope
    return prefix.ljust(6, "0"), str(int(prefix) + 1).ljust(6, "0")


def level_column(column: ColumnElement[str], level: str) -> ColumnElement[str]:
    """``level_key`` in SQL."""
    width = {"county": 6, "prefecture": 4, "province": 2, "nation": 0}[level]
    if width == 6:
        return column
    if width == 0:
        return literal("000000", String)
    return func.substr(column, 1, width, type_=String) + literal("0" * (6 - width), String)


@dataclass(frozen=True)
class Source:
    """Rows shaped like the three aggregate tables: the tables themselves (minus the
    dirty partitions) or the refresh's GROUP BYs over raw messages."""

    counts: FromClause
    pending: FromClause
    latency: FromClause
    kept: Callable[[FromClause], list[ColumnElement[bool]]] | None = None
    """For the aggregate tables: the conditions leaving out what is read raw."""


def raw_source(dialect: str, role: str, period: str, regions: Sequence[str] | None) -> Source:
    """The refresh's GROUP BYs over the raw messages of a month (of these counties only)."""
    where = aggregates.partition_where(role, period, regions)
    return Source(
        aggregates.exchange_select(role, where).subquery(),
        aggregates.pending_select(role, where).subquery(),
        aggregates.latency_select(dialect, role, where).subquery(),
    )


def aggregate_source(whole_months: list[str], dirty: dict[str, list[str]]) -> Source:
    """The aggregate tables without the partitions read raw."""
    tables = (ExchangeCount.__table__, PendingCount.__table__, LatencyHistogram.__table__)
    return _aggregate_source(tables, whole_months, dirty)


def _aggregate_source(
    tables: tuple[FromClause, FromClause, FromClause],
    whole_months: list[str],
    dirty: dict[str, list[str]],
) -> Source:
    """The aggregate tables without the partitions read raw (same conditions on all three:
    they share the ``period`` and ``region`` columns)."""

    def kept(table: FromClause) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if whole_months:
            conditions.append(table.c.period.not_in(whole_months))
        for month, regions in dirty.items():
            conditions.append(~and_(table.c.period == month, table.c.region.in_(regions)))
        return conditions

    counts, pending, latency = tables
    return Source(counts, pending, latency, kept=kept)


def _where(table: FromClause, selection: Selection, source: Source) -> list[ColumnElement[bool]]:
    columns = table.c
    conditions = [columns.role == selection.role, columns.period.in_(selection.months)]
    bounds = code_range(selection.scope)
    if bounds is not None:
        conditions += [columns.region >= bounds[0], columns.region < bounds[1]]
    if source.kept is not None:
        conditions += source.kept(table)
    return conditions


def _sum(column: ColumnElement[int]) -> ColumnElement[int]:
    """A sum as an integer (PostgreSQL sums the raw rows' bigint counts as numeric)."""
    return cast(func.sum(column), BigInteger)


def _counts_query(selection: Selection, level: str, by_counterpart: bool, source: Source):  # type: ignore[no-untyped-def]
    table = source.counts
    c = table.c
    keys = [level_column(c.region, level).label("item"), c.kind]
    if by_counterpart:
        keys.append(c.counterpart)
    sums = [
        _sum(c.routed).label("routed"), _sum(c.answered).label("answered"),
        _sum(c.answered_on_time).label("on_time"),
        _sum(c.not_found).label("not_found"), _sum(c.received).label("received"),
    ]  # fmt: skip
    return select(*keys, *sums).where(*_where(table, selection, source)).group_by(*keys)


def _pending_query(selection: Selection, level: str, by_counterpart: bool, source: Source):  # type: ignore[no-untyped-def]
    table = source.pending
    c = table.c
    keys = [level_column(c.region, level).label("item"), c.kind]
    if by_counterpart:
        keys.append(c.counterpart)
    sums = [_sum(c.unanswered).label("unanswered"), _sum(c.unreceived).label("unreceived")]
    where = [*_where(table, selection, source), c.deadline < selection.as_of]
    return select(*keys, *sums).where(*where).group_by(*keys)


def summed_counts(
    session: Session, selection: Selection, source: Source, level: str, by_counterpart: bool
) -> Sequence[Row[*tuple[Any, ...]]]:
    """``(item, kind[, counterpart], routed, answered, on_time, not_found, received)``."""
    return session.execute(_counts_query(selection, level, by_counterpart, source)).all()


def summed_pending(
    session: Session, selection: Selection, source: Source, level: str, by_counterpart: bool
) -> Sequence[Row[*tuple[Any, ...]]]:
    """``(item, kind[, counterpart], unanswered, unreceived)`` due before ``as_of``."""
    return session.execute(_pending_query(selection, level, by_counterpart, source)).all()


def latency_histograms(
    session: Session, selection: Selection, source: Source
) -> Sequence[Row[str, str, str, dict[str, int]]]:
    """``(region, kind, leg, buckets)`` of the selection (only its legs, when it names some)."""
    table = source.latency
    c = table.c
    query = select(c.region, c.kind, c.leg, c.buckets).where(*_where(table, selection, source))
    if selection.latency_legs is not None:
        legs = selection.latency_legs
        query = query.where(or_(*(and_(c.kind == k, c.leg == g) for k, g in legs)))
    return session.execute(query).all()


def messages_changed_after(
    session: Session, selection: Selection
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The selection's messages whose ``updated_at`` is later than its ``as_of``, with every
    event time, so their contribution at ``as_of`` can be recomputed."""
    as_of, region = selection.as_of, region_column(selection.role)
    other = M.from_region if selection.role == "responder" else M.to_region
    bounds = code_range(selection.scope)
    query = select(
        region.label("region"), other.label("other"), M.kind, M.state, M.needs_feedback,
        M.needs_receipt, M.submitted_at, M.deadline, M.delivered_at, M.received_at,
        M.answered_at, M.feedback_result,
    ).where(
        M.updated_at > as_of, M.state != "withdrawn", M.period.in_(selection.months),
        *([region >= bounds[0], region < bounds[1]] if bounds else []),
    )  # fmt: skip
    return session.execute(query).all()

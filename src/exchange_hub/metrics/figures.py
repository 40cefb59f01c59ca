"""Reading the maintained figures of a region and period, exact at any evaluation time.

The database sums the aggregate rows up to the level asked for (a province
bulletin reads a few hundred summed rows). The aggregates count every event
recorded so far; for an evaluation time T in the past, the few messages that
changed after T (their ``updated_at`` is later than T, and every event time
of a message is at most its ``updated_at``) are read raw and their
contribution is swapped for the one they had at T. At T = now that set is
empty and nothing raw is read.

Reading writes nothing. The partitions (role, month, county) that changes
since the last refresh made dirty (``aggregates.unapplied``) are left out of
the aggregate sums and read from the raw messages with the refresh's own
GROUP BYs instead; a month with more dirty counties than ``RAW_COUNTIES``, or
every month before the first refresh, is read raw whole. So the figures are
exact on a read session or a replica, whenever the refresh job last ran.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    String,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from exchange_hub.metrics import aggregates, histogram
from exchange_hub.metrics.aggregates import M, counterpart_province_code, region_column
from exchange_hub.metrics.definitions import Tally, leg_latencies, tally_message
from exchange_hub.models import ExchangeCount, LatencyHistogram, PendingCount

Histogram = dict[int, int]
RAW_COUNTIES = 400
"""Dirty counties of a month above which the whole month is read raw (a short query)."""


@dataclass
class Figures:
    """Summed counts per (item, kind), per (matrix item, counterpart province, kind), and
    latency histograms per (item, kind, leg); an item is a region at the requested level."""

    items: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    cells: dict[tuple[str, str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    latency: dict[tuple[str, str, str], Histogram] = field(default_factory=dict)


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


def level_key(code: str, level: str) -> str:
    """The region at ``level`` that contains county ``code``."""
    width = {"county": 6, "prefecture": 4, "province": 2, "nation": 0}[level]
    return code[:width].ljust(6, "0")


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


def load_figures(session: Session, selection: Selection) -> Figures:
    figures = Figures()
    for source in _sources(session, selection):
        _add_counts(session, figures, selection, source)
        if selection.with_latency:
            _add_latency(session, figures, selection, source)
    _correct_for_later_changes(session, figures, selection)
    return figures


def _sources(session: Session, selection: Selection) -> list[Source]:
    """The aggregates for what they hold, the raw rows for the rest (see the docstring)."""
    pending = aggregates.unapplied(session)
    tables = (ExchangeCount.__table__, PendingCount.__table__, LatencyHistogram.__table__)
    bounds = code_range(selection.scope)
    whole_months: list[str] = []
    dirty: dict[str, list[str]] = {}
    for month in selection.months:
        regions = sorted(r for r in pending.regions(selection.role, month) if _inside(r, bounds))
        if not pending.built or len(regions) > RAW_COUNTIES:
            whole_months.append(month)
        elif regions:
            dirty[month] = regions
    sources = [_aggregate_source(tables, whole_months, dirty)]
    dialect = session.get_bind().dialect.name
    role, region = selection.role, region_column(selection.role)
    raw_wheres = [[M.period == month] for month in whole_months]
    raw_wheres += [[M.period == month, region.in_(regions)] for month, regions in dirty.items()]
    for where in raw_wheres:
        sources.append(
            Source(
                aggregates.exchange_select(role, where).subquery(),
                aggregates.pending_select(role, where).subquery(),
                aggregates.latency_select(dialect, role, where).subquery(),
            )
        )
    return sources


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


def _inside(code: str, bounds: tuple[str, str] | None) -> bool:
    return bounds is None or bounds[0] <= code < bounds[1]


def _where(table: FromClause, selection: Selection, source: Source) -> list[ColumnElement[bool]]:
    columns = table.c
    conditions = [columns.role == selection.role, columns.period.in_(selection.months)]
    bounds = code_range(selection.scope)
    if bounds is not None:
        conditions += [columns.region >= bounds[0], columns.region < bounds[1]]
    if source.kept is not None:
        conditions += source.kept(table)
    return conditions


def _add_counts(session: Session, figures: Figures, selection: Selection, source: Source) -> None:
    groupings = [(selection.level, False)]
    if selection.matrix_level is not None:
        groupings.append((selection.matrix_level, True))
    for level, by_counterpart in groupings:
        for row in session.execute(_counts_query(selection, level, by_counterpart, source)):
            _tally_of(figures, row, by_counterpart).add(
                Tally(routed=row.routed, answered=row.answered, answered_on_time=row.on_time,
                      not_found=row.not_found, received=row.received,
                      # once answered (received) a message is due whatever the time
                      due=row.answered, receipt_due=row.received)
            )  # fmt: skip
        for row in session.execute(_pending_query(selection, level, by_counterpart, source)):
            _tally_of(figures, row, by_counterpart).add(
                Tally(due=row.unanswered, receipt_due=row.unreceived)
            )


def _tally_of(figures: Figures, row, by_counterpart: bool) -> Tally:  # type: ignore[no-untyped-def]
    if by_counterpart:
        return figures.cells[(row.item, row.counterpart, row.kind)]
    return figures.items[(row.item, row.kind)]


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


def _add_latency(session: Session, figures: Figures, selection: Selection, source: Source) -> None:
    """Histograms are merged here, bucket by bucket (percentiles are never averaged)."""
    table = source.latency
    c = table.c
    query = select(c.region, c.kind, c.leg, c.buckets).where(*_where(table, selection, source))
    if selection.latency_legs is not None:
        legs = selection.latency_legs
        query = query.where(or_(*(and_(c.kind == k, c.leg == g) for k, g in legs)))
    for region, kind, leg, buckets in session.execute(query):
        key = (level_key(region, selection.level), kind, leg)
        target = figures.latency.get(key)
        if target is None:
            figures.latency[key] = {int(index): count for index, count in buckets.items()}
            continue
        for index, count in buckets.items():
            bucket = int(index)
            target[bucket] = target.get(bucket, 0) + count


def _correct_for_later_changes(session: Session, figures: Figures, selection: Selection) -> None:
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
    for row in session.execute(query):
        delta = tally_message(row, as_of, known_at=as_of)
        delta.add(tally_message(row, as_of, known_at=None), sign=-1)
        item = level_key(row.region, selection.level)
        figures.items[(item, row.kind)].add(delta)
        if selection.matrix_level is not None:
            cell = level_key(row.region, selection.matrix_level)
            figures.cells[(cell, counterpart_province_code(row.other), row.kind)].add(delta)
        if selection.with_latency:
            _correct_latency(figures.latency, item, row, as_of)


def _correct_latency(latency, item: str, row, as_of: datetime) -> None:  # type: ignore[no-untyped-def]
    for known_at, step in ((as_of, 1), (None, -1)):
        for leg, seconds in leg_latencies(row, known_at=known_at):
            target = latency.setdefault((item, row.kind, leg), {})
            bucket = histogram.bucket_of(seconds)
            target[bucket] = target.get(bucket, 0) + step

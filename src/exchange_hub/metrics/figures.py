"""Reading the maintained figures of a region and period, exact at any evaluation time.

The database sums the aggregate rows up to the level asked for (a province
bulletin reads a few hundred summed rows). The aggregates count every event
recorded so far; for an evaluation time T in the past, the few messages that
changed after T (their ``updated_at`` is later than T, and every event time
of a message is at most its ``updated_at``) are read raw and their
contribution is swapped for the one they had at T. At T = now that set is
empty and nothing raw is read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, func, literal, or_, select
from sqlalchemy.orm import Session

from exchange_hub.metrics import histogram
from exchange_hub.metrics.aggregates import M, counterpart_province_code, region_column
from exchange_hub.metrics.definitions import Tally, leg_latencies, tally_message
from exchange_hub.models import ExchangeCount, LatencyHistogram, PendingCount

Histogram = dict[int, int]


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


def load_figures(session: Session, selection: Selection) -> Figures:
    figures = Figures()
    _add_counts(session, figures, selection)
    if selection.with_latency:
        _add_latency(session, figures, selection)
    _correct_for_later_changes(session, figures, selection)
    return figures


def _where(table, selection: Selection) -> list:  # type: ignore[no-untyped-def,type-arg]
    conditions = [table.role == selection.role, table.period.in_(selection.months)]
    bounds = code_range(selection.scope)
    if bounds is not None:
        conditions += [table.region >= bounds[0], table.region < bounds[1]]
    return conditions


def _add_counts(session: Session, figures: Figures, selection: Selection) -> None:
    groupings = [(selection.level, False)]
    if selection.matrix_level is not None:
        groupings.append((selection.matrix_level, True))
    for level, by_counterpart in groupings:
        for row in session.execute(_counts_query(selection, level, by_counterpart)):
            _tally_of(figures, row, by_counterpart).add(
                Tally(routed=row.routed, answered=row.answered, answered_on_time=row.on_time,
                      not_found=row.not_found, received=row.received,
                      # once answered (received) a message is due whatever the time
                      due=row.answered, receipt_due=row.received)
            )  # fmt: skip
        for row in session.execute(_pending_query(selection, level, by_counterpart)):
            _tally_of(figures, row, by_counterpart).add(
                Tally(due=row.unanswered, receipt_due=row.unreceived)
            )


def _tally_of(figures: Figures, row, by_counterpart: bool) -> Tally:  # type: ignore[no-untyped-def]
    if by_counterpart:
        return figures.cells[(row.item, row.counterpart, row.kind)]
    return figures.items[(row.item, row.kind)]


def _counts_query(selection: Selection, level: str, by_counterpart: bool):  # type: ignore[no-untyped-def]
    table = ExchangeCount
    keys = [level_column(table.region, level).label("item"), table.kind]
    if by_counterpart:
        keys.append(table.counterpart)
    sums = [
        func.sum(table.routed).label("routed"), func.sum(table.answered).label("answered"),
        func.sum(table.answered_on_time).label("on_time"),
        func.sum(table.not_found).label("not_found"), func.sum(table.received).label("received"),
    ]  # fmt: skip
    return select(*keys, *sums).where(*_where(table, selection)).group_by(*keys)


def _pending_query(selection: Selection, level: str, by_counterpart: bool):  # type: ignore[no-untyped-def]
    table = PendingCount
    keys = [level_column(table.region, level).label("item"), table.kind]
    if by_counterpart:
        keys.append(table.counterpart)
    sums = [func.sum(table.unanswered).label("unanswered"),
            func.sum(table.unreceived).label("unreceived")]  # fmt: skip
    where = [*_where(table, selection), table.deadline < selection.as_of]
    return select(*keys, *sums).where(*where).group_by(*keys)


def _add_latency(session: Session, figures: Figures, selection: Selection) -> None:
    """Histograms are merged here, bucket by bucket (percentiles are never averaged)."""
    table = LatencyHistogram
    query = select(table.region, table.kind, table.leg, table.buckets).where(
        *_where(table, selection)
    )
    if selection.latency_legs is not None:
        query = query.where(
            or_(*(and_(table.kind == k, table.leg == g) for k, g in selection.latency_legs))
        )
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

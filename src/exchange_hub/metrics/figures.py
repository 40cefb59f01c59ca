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
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from exchange_hub.metrics import aggregates, histogram
from exchange_hub.metrics import figures_repository as repository
from exchange_hub.metrics.aggregates import counterpart_province_code
from exchange_hub.metrics.definitions import Tally, leg_latencies, tally_message
from exchange_hub.metrics.figures_repository import Selection, Source, code_range

__all__ = ["Figures", "Selection", "code_range", "level_key", "load_figures"]

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


def level_key(code: str, level: str) -> str:
    """The region at ``level`` that contains county ``code``."""
    width = {"county": 6, "prefecture": 4, "province": 2, "nation": 0}[level]
    return code[:width].ljust(6, "0")


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
    bounds = code_range(selection.scope)
    whole_months: list[str] = []
    dirty: dict[str, list[str]] = {}
    for month in selection.months:
        regions = sorted(r for r in pending.regions(selection.role, month) if _inside(r, bounds))
        if not pending.built or len(regions) > RAW_COUNTIES:
            whole_months.append(month)
        elif regions:
            dirty[month] = regions
    sources = [repository.aggregate_source(whole_months, dirty)]
    dialect = session.get_bind().dialect.name
    raw = [(month, None) for month in whole_months] + list(dirty.items())
    for month, counties in raw:
        sources.append(repository.raw_source(dialect, selection.role, month, counties))
    return sources


def _inside(code: str, bounds: tuple[str, str] | None) -> bool:
    return bounds is None or bounds[0] <= code < bounds[1]


def _add_counts(session: Session, figures: Figures, selection: Selection, source: Source) -> None:
    groupings = [(selection.level, False)]
    if selection.matrix_level is not None:
        groupings.append((selection.matrix_level, True))
    for level, by_counterpart in groupings:
        for row in repository.summed_counts(session, selection, source, level, by_counterpart):
            _tally_of(figures, row, by_counterpart).add(
                Tally(routed=row.routed, answered=row.answered, answered_on_time=row.on_time,
                      not_found=row.not_found, received=row.received,
                      # once answered (received) a message is due whatever the time
                      due=row.answered, receipt_due=row.received)
            )  # fmt: skip
        for row in repository.summed_pending(session, selection, source, level, by_counterpart):
            _tally_of(figures, row, by_counterpart).add(
                Tally(due=row.unanswered, receipt_due=row.unreceived)
            )


def _tally_of(figures: Figures, row, by_counterpart: bool) -> Tally:  # type: ignore[no-untyped-def]
    if by_counterpart:
        return figures.cells[(row.item, row.counterpart, row.kind)]
    return figures.items[(row.item, row.kind)]


def _add_latency(session: Session, figures: Figures, selection: Selection, source: Source) -> None:
    """Histograms are merged here, bucket by bucket (percentiles are never averaged)."""
    for region, kind, leg, buckets in repository.latency_histograms(session, selection, source):
        key = (level_key(region, selection.level), kind, leg)
        target = figures.latency.get(key)
        if target is None:
            figures.latency[key] = {int(index): count for index, count in buckets.items()}
            continue
        for index, count in buckets.items():
            bucket = int(index)
            target[bucket] = target.get(bucket, 0) + count


def _correct_for_later_changes(session: Session, figures: Figures, selection: Selection) -> None:
    as_of = selection.as_of
    for row in repository.messages_changed_after(session, selection):
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

"""Reading the maintained figures of a region and period, exact at any evaluation time.

The aggregates count every event recorded so far. For an evaluation time T
in the past, the few messages that changed after T (their ``updated_at`` is
later than T, and every event time of a message is at most its
``updated_at``) are read raw and their contribution is swapped for the one
they had at T. At T = now that set is empty and nothing raw is read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from exchange_hub.metrics import histogram
from exchange_hub.metrics.aggregates import M, counterpart_province_code, region_column
from exchange_hub.metrics.definitions import Tally, leg_latencies, tally_message
from exchange_hub.models import ExchangeCount, LatencyHistogram, PendingCount

TallyKey = tuple[str, str, str]  # (county, counterpart province, kind)
LatencyKey = tuple[str, str, str]  # (county, kind, leg)


@dataclass
class Figures:
    """Tallies per (county, counterpart province, kind) and histograms per (county, kind, leg)."""

    tallies: dict[TallyKey, Tally] = field(default_factory=lambda: defaultdict(Tally))
    latency: dict[LatencyKey, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )


def code_range(scope: str) -> tuple[str, str] | None:
    """``[low, high)`` of 6-digit codes inside a region (None for the nation).

    A range rather than ``LIKE '44%'`` so the primary-key index serves it on
    every collation.
    """
    if scope == "000000":
        return None
    prefix = scope[:2] if scope.endswith("0000") else scope[:4] if scope.endswith("00") else scope
    return prefix.ljust(6, "0"), str(int(prefix) + 1).ljust(6, "0")


def _in_range(column: ColumnElement[str], bounds: tuple[str, str] | None) -> list:  # type: ignore[type-arg]
    if bounds is None:
        return []
    return [column >= bounds[0], column < bounds[1]]


def load_figures(
    session: Session, *, role: str, months: Sequence[str], scope: str, as_of: datetime
) -> Figures:
    figures = Figures()
    bounds = code_range(scope)
    _add_counts(session, figures, role, months, bounds)
    _add_pending(session, figures, role, months, bounds, as_of)
    _add_latency(session, figures, role, months, bounds)
    _correct_for_later_changes(session, figures, role, months, bounds, as_of)
    return figures


def _add_counts(session, figures, role, months, bounds) -> None:  # type: ignore[no-untyped-def]
    table = ExchangeCount
    query = (
        select(
            table.region, table.counterpart, table.kind,
            func.sum(table.routed), func.sum(table.answered), func.sum(table.answered_on_time),
            func.sum(table.not_found), func.sum(table.received),
        )
        .where(table.role == role, table.period.in_(months), *_in_range(table.region, bounds))
        .group_by(table.region, table.counterpart, table.kind)
    )  # fmt: skip
    for (
        region,
        counterpart,
        kind,
        routed,
        answered,
        on_time,
        not_found,
        received,
    ) in session.execute(query):
        tally = figures.tallies[(region, counterpart, kind)]
        tally.routed += int(routed)
        tally.answered += int(answered)
        tally.answered_on_time += int(on_time)
        tally.not_found += int(not_found)
        tally.received += int(received)
        # Once answered (received) a message is due whatever the evaluation time.
        tally.due += int(answered)
        tally.receipt_due += int(received)


def _add_pending(session, figures, role, months, bounds, as_of) -> None:  # type: ignore[no-untyped-def]
    table = PendingCount
    query = (
        select(
            table.region, table.counterpart, table.kind,
            func.sum(table.unanswered), func.sum(table.unreceived),
        )
        .where(
            table.role == role, table.period.in_(months), table.deadline < as_of,
            *_in_range(table.region, bounds),
        )
        .group_by(table.region, table.counterpart, table.kind)
    )  # fmt: skip
    for region, counterpart, kind, unanswered, unreceived in session.execute(query):
        tally = figures.tallies[(region, counterpart, kind)]
        tally.due += int(unanswered)
        tally.receipt_due += int(unreceived)


def _add_latency(session, figures, role, months, bounds) -> None:  # type: ignore[no-untyped-def]
    table = LatencyHistogram
    query = select(table.region, table.kind, table.leg, table.buckets).where(
        table.role == role, table.period.in_(months), *_in_range(table.region, bounds)
    )
    for region, kind, leg, buckets in session.execute(query):
        target = figures.latency[(region, kind, leg)]
        for index, count in buckets.items():
            target[int(index)] += count


def _correct_for_later_changes(session, figures, role, months, bounds, as_of) -> None:  # type: ignore[no-untyped-def]
    region = region_column(role)
    other = M.from_region if role == "responder" else M.to_region
    query = select(
        region.label("region"), other.label("other"), M.kind, M.state, M.needs_feedback,
        M.needs_receipt, M.submitted_at, M.deadline, M.delivered_at, M.received_at,
        M.answered_at, M.feedback_result,
    ).where(
        M.updated_at > as_of, M.state != "withdrawn", M.period.in_(months),
        *_in_range(region, bounds),
    )  # fmt: skip
    for row in session.execute(query):
        key = (row.region, counterpart_province_code(row.other), row.kind)
        tally = figures.tallies[key]
        tally.add(tally_message(row, as_of, known_at=as_of))
        tally.add(tally_message(row, as_of, known_at=None), sign=-1)
        for leg, seconds in leg_latencies(row, known_at=as_of):
            figures.latency[(row.region, row.kind, leg)][histogram.bucket_of(seconds)] += 1
        for leg, seconds in leg_latencies(row, known_at=None):
            figures.latency[(row.region, row.kind, leg)][histogram.bucket_of(seconds)] -= 1

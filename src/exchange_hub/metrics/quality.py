"""Data quality of the records registered in a period (SPEC §5), per region.

- flagged ID: share of records whose ID number's check character is wrong
  (accepted under the ``lenient`` policy, ``records.id_check_flagged``);
- missing hukou region: share of inflow records (流入登记) sent without the
  household-registration region (``records.hukou_missing``);
- unmatched inflow: share of inflow records for which the hub holds no
  outflow record (流出登记) of the same person (same ID blind index) — the
  cases that open a verification query to the origin.

A record counts in the Asia/Shanghai month it was first registered
(``created_at``), under its registering county. These are read from the
records table directly; they are not part of the maintained aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from exchange_hub.metrics import repository
from exchange_hub.periods import Period


@dataclass
class QualityCounts:
    records: int = 0
    id_flagged: int = 0
    inflows: int = 0
    hukou_missing: int = 0
    unmatched_inflows: int = 0


def period_bounds(period: Period) -> tuple[datetime, datetime]:
    """The UTC instants where the period's first Shanghai month starts and its last one ends."""
    return period.first.start.astimezone(UTC), period.last.end.astimezone(UTC)


def quality_by_region(
    session: Session, *, scope: str, period: Period, level: str
) -> dict[str, QualityCounts]:
    """Counts per region at ``level`` inside ``scope`` for records registered in ``period``."""
    start, end = period_bounds(period)
    counts = repository.record_quality_counts(
        session, scope=scope, start=start, end=end, level=level
    )
    return {item: QualityCounts(*values) for item, values in counts.items()}

"""Demo department reports, so the console and bulletin show non-trivial reporting figures.

``seed_demo_reports`` is for the demo command (``exchange_hub.demo``): it makes
every department of the given counties owe reports since a start month and
fills the past months with a realistic mix — most on time, some late, some
zero reports, a few missing — deterministically, and safely twice.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.periods import Month, month_of
from exchange_hub.reports import pairs, repository, service
from exchange_hub.reports.catalogue import ReportCatalogue, load_catalogue
from exchange_hub.reports.periods import report_deadline
from exchange_hub.scope import Caller
from exchange_hub.workdays_store import calendar_of


@dataclass(frozen=True)
class DemoReports:
    pairs_activated: int
    reports_submitted: int


def seed_demo_reports(
    session: Session,
    *,
    counties: Sequence[str],
    months: int = 6,
    now: datetime | None = None,
    catalogue: ReportCatalogue | None = None,
    seed: int = 2026,
) -> DemoReports:
    """Activate every department of ``counties`` and report the ``months`` months before now."""
    now = now or clock.now()
    catalogue = catalogue or load_catalogue()
    first = month_of(now)
    for _ in range(months):
        first = first.preceding()
    activated = 0
    for county in counties:
        changes = pairs.activate_pairs(
            session, region=county, departments=catalogue.departments, active_from=first.first_day
        )
        activated += sum(change.changed for change in changes)
    rng = random.Random(seed)
    submitted = 0
    month = first
    while month < month_of(now):
        for county in counties:
            for department in catalogue.departments:
                submitted += _report_one(session, rng, county, department, month, now, catalogue)
        month = month.following()
    return DemoReports(activated, submitted)


def _report_one(
    session: Session, rng: random.Random, county: str, department: str, month: Month,
    now: datetime, catalogue: ReportCatalogue,
) -> int:  # fmt: skip
    """Submit one plausible report (1) or leave it missing (0); never twice."""
    # Draw every value first, so a second run walks the same random sequence.
    missing, late, delay_days, zero = (
        rng.random() < 0.08,
        rng.random() < 0.15,
        rng.randint(0, 20),
        rng.random() < 0.2,
    )
    counts = {item: rng.randint(0, 60) for item in catalogue.types[department].items}
    if missing or repository.find_report(session, county, department, month.label):
        return 0
    deadline = report_deadline(month, calendar_of(session))
    delay = timedelta(days=6 + delay_days) if late else -timedelta(days=delay_days % 3)
    at = min(deadline + delay, now)
    reporter = Caller(None, f"demo {department} {county}", "department", county, department)
    service.submit_report(
        session, reporter, department=department, region=county, period=month.label,
        counts=None if zero else counts, zero=zero or None, catalogue=catalogue, now=at,
    )  # fmt: skip
    return 1

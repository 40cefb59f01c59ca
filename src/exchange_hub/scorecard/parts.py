"""Numerators and denominators of every indicator, per county and month, and their roll-up.

A county's part of an indicator is ``(numerator, denominator)``. For an
indicator whose denominator is a department's count (``report``), a month
without that report contributes nothing and, when the department owes the
county a report that month (its reporting pair was active all month), is
counted in ``missing`` when
the report's deadline (the 3rd of the next month, moved off rest days) is
before the evaluation time, in ``pending`` when it is not (not yet due is
not missing); a region is "no report" when none of its county-months
reported and one was due.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from exchange_hub.metrics.definitions import Tally
from exchange_hub.metrics.figures import Selection, code_range, load_figures
from exchange_hub.periods import Month, parse_month
from exchange_hub.reports import rates as report_rates
from exchange_hub.scorecard import repository
from exchange_hub.scorecard.config import ScoreConfig

ADULT_AGE = 18


@dataclass
class Part:
    numerator: int = 0
    denominator: int = 0
    missing: int = 0
    reported: int = 0
    pending: int = 0

    def add(self, other: Part) -> None:
        self.numerator += other.numerator
        self.denominator += other.denominator
        self.missing += other.missing
        self.reported += other.reported
        self.pending += other.pending


Parts = dict[str, dict[str, Part]]  # county → indicator key → part


def adult_born_by(day: date) -> date:
    """People born on or before this date are adults (18) on ``day``."""
    try:
        return day.replace(year=day.year - ADULT_AGE)
    except ValueError:  # 29 February
        return day.replace(year=day.year - ADULT_AGE, day=28)


def record_counts(session: Session, scope: str, month: Month) -> dict[str, dict[str, int]]:
    """Per registering county: records registered in the month, adults, checked, certified."""
    rows = repository.record_counts(
        session, code_range(scope), month.start, month.end, adult_born_by(month.last_day)
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for county, kind, total, adults, checked, certified in rows:
        counts[county][f"{kind}"] += int(total)
        counts[county][f"{kind}_adult"] += int(adults or 0)
        counts[county][f"{kind}_adult_checked"] += int(checked or 0)
        counts[county][f"{kind}_adult_certified"] += int(certified or 0)
    return counts


def birth_notifications(session: Session, scope: str, month: Month) -> dict[str, int]:
    return repository.birth_notification_counts(session, code_range(scope), month.label)


REPORT_ITEMS = {
    item.key: item
    for item in (
        report_rates.POLICE_TEMPORARY_RESIDENCE_REGISTRATIONS,
        report_rates.POLICE_MOVED_OUT,
        report_rates.HEALTH_BIRTHS_TO_NON_RESIDENT_MOTHERS,
    )
}
# Indicator → (numerator, denominator) names in a county-month's record counts.
RECORD_RATIOS = {
    "certificate_check_rate": ("inflow_adult_checked", "inflow_adult"),
    "certificate_issue_rate": ("outflow_adult_certified", "outflow_adult"),
}
# Indicator whose denominator is a report → the county-month count that is its numerator.
REPORT_NUMERATORS = {
    "inflow_registration_rate": "inflow",
    "outflow_registration_rate": "outflow",
    "information_submission_rate": "birth_notifications",
}
# Indicator → (role seen from, message kind, numerator field, denominator field) of a Tally.
EXCHANGE_RATIOS = {
    "query_feedback_rate": ("responder", "query", "answered", "due"),
    "not_found_rate": ("responder", "query", "not_found", "answered"),
    "timely_feedback_rate": ("responder", "query", "answered_on_time", "due"),
    "receipt_rate": ("responder", "notification", "received", "receipt_due"),
    "requester_feedback_rate": ("requester", "query", "answered", "due"),
}


def compute_parts(
    session: Session,
    *,
    scope: str,
    counties: Iterable[str],
    months: Sequence[str],
    as_of: datetime,
    config: ScoreConfig,
) -> Parts:
    """Every indicator's part for every county inside ``scope`` over ``months``."""
    parts: Parts = defaultdict(lambda: defaultdict(Part))
    counties = list(counties)
    for label in months:
        _add_month(session, parts, scope, counties, parse_month(label), as_of, config)
    _add_exchange(session, parts, scope, months, as_of)
    _add_department_rates(session, parts, scope, months, as_of)
    return parts


def _add_month(
    session: Session,
    parts: Parts,
    scope: str,
    counties: list[str],
    month: Month,
    as_of: datetime,
    config: ScoreConfig,
) -> None:
    records = record_counts(session, scope, month)
    births = birth_notifications(session, scope, month)
    gap = Part(missing=1) if report_rates.report_due(session, month, as_of) else Part(pending=1)
    owing = report_rates.owing_pairs(session, scope, month)
    for county, counted in records.items():
        for key, (numerator_key, denominator_key) in RECORD_RATIOS.items():
            parts[county][key].add(Part(counted[numerator_key], counted[denominator_key]))
    for indicator in config.indicators:
        if indicator.report is None:
            continue
        reported = report_rates.reported_item_counts(
            session, item=REPORT_ITEMS[indicator.report], region=scope, period=month.label,
            as_of=as_of,
        )  # fmt: skip
        for county in counties:
            found = reported.get(county)
            if found is None:
                # A department that owes this county no report leaves it without data.
                if (county, REPORT_ITEMS[indicator.report].department) in owing:
                    parts[county][indicator.key].add(gap)
                continue
            source = REPORT_NUMERATORS[indicator.key]
            numerator = births.get(county, 0) if source == "birth_notifications" else (
                records.get(county, {}).get(source, 0)
            )  # fmt: skip
            parts[county][indicator.key].add(Part(numerator, found.count, reported=1))


def _add_exchange(
    session: Session, parts: Parts, scope: str, months: Sequence[str], as_of: datetime
) -> None:
    by_role: dict[str, dict[tuple[str, str], Tally]] = {}
    for role in ("responder", "requester"):
        selection = Selection(
            role=role, months=list(months), scope=scope, as_of=as_of, level="county",
            with_latency=False,
        )  # fmt: skip
        by_role[role] = load_figures(session, selection).items
    for key, (role, kind, numerator, denominator) in EXCHANGE_RATIOS.items():
        for (county, tally_kind), tally in by_role[role].items():
            if tally_kind == kind:
                parts[county][key].add(Part(getattr(tally, numerator), getattr(tally, denominator)))


def _add_department_rates(
    session: Session, parts: Parts, scope: str, months: Sequence[str], as_of: datetime
) -> None:
    for label in months:
        rows = report_rates.compute_report_rates(
            session, region=scope, period=label, level="county", as_of=as_of
        ).rows
        for row in rows:
            parts[row.region]["department_reporting_rate"].add(Part(row.received, row.expected))
            parts[row.region]["department_on_time_rate"].add(Part(row.on_time, row.expected))

"""Department reporting figures (SPEC §5), with DHIS2 semantics.

For a region R, a period P (a month, quarter or year) and an evaluation time T:

- ``expected``  — (county, department, month) triples whose reporting pair was
  active for the whole month (a pair activated mid-month owes nothing that month)
  and that are due at T: the month's deadline (the 3rd of the next month, moved
  off rest days) is before T, or the report was received by T. A report not yet
  due and not yet sent is not held against the region (as ``due`` for queries,
  SPEC §5); it is counted in ``not_yet_due`` instead;
- ``received``  — reports first submitted by T (zero reports included);
- ``on_time``   — of those, first submitted by their deadline (corrections never
  change it);
- ``zero``      — of those, the ones whose version current at T was a zero
  report (零通报: ``"zero": true``);
- ``unexpected`` — of ``received``, reports for triples that were not expected.
  They stay in ``received`` (no silent capping at 100 %) and each is listed as
  an inconsistency so the admin can fix the pair's activation.

reporting rate = received / expected, on-time rate = on_time / expected; a
zero denominator gives ``None``. Roll-ups sum the counts, never the rates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from exchange_hub.errors import InvalidInput
from exchange_hub.models import Region
from exchange_hub.periods import Month, parse_period
from exchange_hub.regions import service as regions
from exchange_hub.reports import repository
from exchange_hub.reports.periods import report_deadline
from exchange_hub.scope import DEPARTMENTS, scope_prefix
from exchange_hub.workdays_store import calendar_of

LEVELS = ("county", "prefecture", "province", "nation")
MAX_LISTED_INCONSISTENCIES = 1_000
"""Enough to act on; ``total.unexpected`` always carries the full count."""


@dataclass(frozen=True)
class RateValue:
    """A rate with what it is made of; ``value`` is a fraction, ``None`` on a zero denominator."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(kw_only=True)
class ReportCounts:
    """Expected, received, on-time, zero and unexpected reports; add them to roll up."""

    expected: int = 0
    received: int = 0
    on_time: int = 0
    zero: int = 0
    unexpected: int = 0
    not_yet_due: int = 0

    @property
    def reporting_rate(self) -> RateValue:
        return RateValue(self.received, self.expected)

    @property
    def on_time_rate(self) -> RateValue:
        return RateValue(self.on_time, self.expected)

    def add(self, other: ReportCounts) -> None:
        self.expected += other.expected
        self.received += other.received
        self.on_time += other.on_time
        self.zero += other.zero
        self.unexpected += other.unexpected
        self.not_yet_due += other.not_yet_due

    def count_received(self, *, on_time: bool, zero: bool, expected: bool) -> None:
        self.received += 1
        self.on_time += on_time
        self.zero += zero
        self.unexpected += not expected


@dataclass(kw_only=True)
class ReportRateRow(ReportCounts):
    """The department-report counts of one region."""

    region: str
    name: str
    level: str


@dataclass(kw_only=True)
class DepartmentRateRow(ReportCounts):
    """The counts of one department over all the counties of a region."""

    department: str


@dataclass(frozen=True)
class Inconsistency:
    region: str
    department: str
    period: str
    reason: str


@dataclass
class ReportRates:
    region: str
    name: str
    periods: list[str]
    level: str
    as_of: datetime
    total: ReportRateRow
    rows: list[ReportRateRow]
    departments: list[DepartmentRateRow]
    inconsistencies: list[Inconsistency] = field(default_factory=list)


def check_level(region: Region, level: str | None) -> str:
    """The level of the rows: at or below the region's own; default one level below."""
    own = LEVELS.index(region.level) if region.level in LEVELS else 0
    if level is None:
        return LEVELS[max(own - 1, 0)]
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", field="level")
    if LEVELS.index(level) > own:
        raise InvalidInput(
            f"level {level} is above region {region.code} ({region.level})", field="level"
        )
    return level


class _Grouping:
    """Maps a county to the region that stands for it at one level (walking the parents).

    A county with no ancestor at that level (a county directly under its
    province, at prefecture level) stands for itself.
    """

    def __init__(self, known: dict[str, Region], level: str) -> None:
        self.known, self.level = known, level
        self._cache: dict[str, str] = {}

    def group_of(self, county: str) -> str:
        if county not in self._cache:
            self._cache[county] = self._walk(county)
        return self._cache[county]

    def _walk(self, county: str) -> str:
        code: str | None = county
        while code is not None and code in self.known:
            if self.known[code].level == self.level:
                return code
            code = self.known[code].parent
        return county


def _empty_rows(known: dict[str, Region], grouping: _Grouping) -> dict[str, ReportRateRow]:
    """A row for every region at the level that has a current county under it."""
    rows: dict[str, ReportRateRow] = {}
    for region in known.values():
        if region.level == "county" and region.active:
            _row_for(rows, known, grouping.group_of(region.code))
    return rows


def _row_for(rows: dict[str, ReportRateRow], known: dict[str, Region], code: str) -> ReportRateRow:
    if code not in rows:
        region = known.get(code)
        rows[code] = ReportRateRow(
            region=code,
            name=region.name if region else code,
            level=region.level if region else "county",
        )
    return rows[code]


def _count_month(
    session: Session,
    prefix: str,
    month: _DueMonth,
    received: Iterable[tuple[str, str, bool, bool]],
    add: _Adder,
) -> None:
    received = list(received)
    pairs = repository.pairs_active_all_month(
        session, prefix, month.month.first_day, month.month.last_day
    )
    arrived = {(county, department) for county, department, _, _ in received}
    for county, department in pairs:
        owed = month.due or (county, department) in arrived
        for counts in (add.row(county), add.department(department)):
            if owed:
                counts.expected += 1
            else:
                counts.not_yet_due += 1
    for county, department, on_time, zero in received:
        was_expected = (county, department) in pairs
        for row in (add.row(county), add.department(department)):
            row.count_received(on_time=on_time, zero=zero, expected=was_expected)
        if not was_expected:
            add.inconsistencies.append(
                Inconsistency(
                    county, department, month.month.label, "report received but none was expected"
                )
            )


@dataclass(frozen=True)
class _DueMonth:
    """A month of the period and whether its reports were due at T (deadline before T)."""

    month: Month
    due: bool


def _due_months(session: Session, months: list[Month], as_of: datetime) -> list[_DueMonth]:
    return [_DueMonth(m, report_due(session, m, as_of)) for m in months]


def owing_pairs(session: Session, region: str, month: Month) -> set[tuple[str, str]]:
    """(county, department) inside ``region`` that owe a report for ``month`` (pair active
    for the whole month), whether or not it is due yet."""
    prefix = scope_prefix(regions.get_region(session, region).code)
    return repository.pairs_active_all_month(session, prefix, month.first_day, month.last_day)


def report_due(session: Session, month: Month, as_of: datetime) -> bool:
    """Were the reports for ``month`` due at ``as_of`` (their deadline before it)?"""
    due_day = getattr(session.info.get("settings"), "report_due_day", 3)
    return report_deadline(month, calendar_of(session), due_day) < as_of


@dataclass
class _Adder:
    rows: dict[str, ReportRateRow]
    known: dict[str, Region]
    grouping: _Grouping
    departments: dict[str, DepartmentRateRow] = field(default_factory=dict)
    inconsistencies: list[Inconsistency] = field(default_factory=list)

    def row(self, county: str) -> ReportRateRow:
        return _row_for(self.rows, self.known, self.grouping.group_of(county))

    def department(self, name: str) -> DepartmentRateRow:
        return self.departments.setdefault(name, DepartmentRateRow(department=name))


def _received_by_month(
    session: Session, prefix: str, months: list[Month], as_of: datetime
) -> dict[str, list[tuple[str, str, bool, bool]]]:
    """(county, department, on_time, zero) of the reports received by ``as_of``, per month."""
    labels = [m.label for m in months]
    reports = repository.received_reports(session, prefix, labels, as_of)
    # Corrected after T: the zero flag is the one of the version current at T (rare).
    zero_at: dict[repository.ReportKey, bool] = {}
    if repository.corrected_after(session, prefix, labels, as_of):
        zero_at = repository.zero_flags_as_of(session, prefix, labels, as_of)
    by_month: dict[str, list[tuple[str, str, bool, bool]]] = {label: [] for label in labels}
    for county, department, period, on_time, zero in reports:
        zero = zero_at.get((county, department, period), zero)
        by_month[period].append((county, department, on_time, zero))
    return by_month


def compute_report_rates(
    session: Session, *, region: str, period: str, level: str | None, as_of: datetime
) -> ReportRates:
    """The figures of every region at ``level`` inside ``region``, plus their total."""
    top = regions.get_region(session, region)
    level = check_level(top, level)
    months = list(parse_period(period).months)
    prefix = scope_prefix(top.code)
    known = repository.regions_under(session, prefix)
    grouping = _Grouping(known, level)
    adder = _Adder(_empty_rows(known, grouping), known, grouping)
    received = _received_by_month(session, prefix, months, as_of)
    for month in _due_months(session, months, as_of):
        _count_month(session, prefix, month, received[month.month.label], adder)
    rows = sorted(adder.rows.values(), key=lambda row: row.region)
    total = ReportRateRow(region=top.code, name=top.name, level=top.level)
    for row in rows:
        total.add(row)
    departments = [adder.departments[d] for d in DEPARTMENTS if d in adder.departments]
    listed = sorted(adder.inconsistencies, key=lambda i: (i.period, i.region, i.department))
    return ReportRates(
        top.code, top.name, [m.label for m in months], level, as_of, total, rows, departments,
        listed[:MAX_LISTED_INCONSISTENCIES],
    )  # fmt: skip


REPORT_RATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("region", "地区代码"),
    ("name", "地区"),
    ("expected", "应报数"),
    ("received", "实报数"),
    ("on_time", "及时报数"),
    ("zero", "零月报数"),
    ("reporting_rate", "报告率"),
    ("on_time_rate", "及时率"),
    ("unexpected", "非应报单位报送数"),
)
"""Bulletin columns of a ``ReportRateRow``: attribute → Chinese header (rates are ``RateValue``)."""


def report_rates(
    session: Session, *, region: str, period: str, level: str, as_of: datetime
) -> list[ReportRateRow]:
    """Department-report rows for the bulletin: one per region at ``level`` inside ``region``.

    How the metrics bulletin (issue 5) plugs it in, as one more sheet::

        from exchange_hub.reports.service import REPORT_RATE_COLUMNS, report_rates

        rows = report_rates(session, region="440000", period="2026-10",
                            level="county", as_of=as_of)
        for row in rows:
            row.region, row.name, row.level          # the region of the row
            row.expected, row.received, row.on_time  # counts (ints)
            row.zero, row.unexpected
            row.reporting_rate.numerator / .denominator / .value  # received / expected
            row.on_time_rate.numerator / .denominator / .value    # on_time / expected

    ``.value`` is a fraction (0.75), ``None`` on a zero denominator ("—"); it
    may exceed 1 when reports arrived for pairs that were not expected
    (``unexpected`` > 0; never capped). Roll rows up with ``row.add(other)``
    (sums counts, never averages rates). ``REPORT_RATE_COLUMNS`` gives the
    Chinese column headers in order. The caller checks scope
    (``require_admin_over``); ``period`` may be a month, a quarter
    (``2026-Q4``) or a year (``2026``). Bad level, period or region raise
    ``InvalidInput``/``NotFound`` (field ``level``/``period``/``region``).
    """
    return compute_report_rates(
        session, region=region, period=period, level=level, as_of=as_of
    ).rows


# -- reminders -------------------------------------------------------------------
@dataclass(frozen=True)
class MissingReport:
    """An expected report not received by the evaluation time."""

    region: str
    name: str
    department: str
    period: str
    deadline: datetime
    overdue_seconds: float

    @property
    def overdue(self) -> bool:
        return self.overdue_seconds > 0

    @property
    def days_late(self) -> int:
        """Whole days past the deadline (0 while the deadline has not passed)."""
        return int(self.overdue_seconds // 86_400) if self.overdue else 0


def missing_reports(
    session: Session, *, region: Region, months: list[Month], as_of: datetime, due_day: int
) -> list[MissingReport]:
    """Expected reports with nothing received by ``as_of``, the most overdue first."""
    prefix = scope_prefix(region.code)
    known = repository.regions_under(session, prefix)
    missing: list[MissingReport] = []
    calendar = calendar_of(session)
    for month in months:
        deadline = report_deadline(month, calendar, due_day)
        expected = repository.pairs_active_all_month(
            session, prefix, month.first_day, month.last_day
        )
        received = repository.received_keys(session, prefix, month.label, as_of)
        for county, department in expected - received:
            name = known[county].name if county in known else county
            late = (as_of - deadline).total_seconds()
            missing.append(MissingReport(county, name, department, month.label, deadline, late))
    missing.sort(key=lambda m: (-m.overdue_seconds, m.period, m.region, m.department))
    return missing


# -- counted items, for the scorecard (issue 7) ----------------------------------
@dataclass(frozen=True)
class ReportedItem:
    """A counted item of a department's report, e.g. ``police.moved_out``."""

    department: str
    item: str

    @property
    def key(self) -> str:
        return f"{self.department}.{self.item}"


POLICE_TEMPORARY_RESIDENCE_REGISTRATIONS = ReportedItem(
    "police", "temporary_residence_registrations"
)
"""公安 暂住登记: the denominator of the inflow registration rate (建档率)."""
POLICE_MOVED_OUT = ReportedItem("police", "moved_out")
"""公安 迁出: the denominator of the outflow registration rate."""
HEALTH_BIRTHS_TO_NON_RESIDENT_MOTHERS = ReportedItem("health", "births_to_non_resident_mothers")
"""卫生 流动人口产妇分娩: the denominator of the information submission rate (重要信息登录率)."""


@dataclass(frozen=True)
class ReportedCount:
    """One county's total of an item over the months it reported (``months_reported``)."""

    county: str
    count: int
    months_reported: int


def reported_item_counts(
    session: Session, *, item: ReportedItem, region: str, period: str, as_of: datetime
) -> dict[str, ReportedCount]:
    """Per county inside ``region``: the item's total over the period's months, as known at T.

    Only counties whose department reported (a zero report, or a report that
    leaves the item out, counts 0) appear: a county missing from the result
    has **no report** for the period, which the scorecard shows as such, not
    as 0. ``months_reported`` tells a partial quarter or year apart.
    """
    prefix = scope_prefix(regions.get_region(session, region).code)
    labels = list(parse_period(period).labels)
    current = repository.versions_as_of(session, prefix, labels, as_of, item.department)
    totals: dict[str, ReportedCount] = {}
    received = repository.received_department_reports(
        session, prefix, labels, as_of, item.department
    )
    for report in received:
        version = current.get(report.id)
        if version is None:  # pragma: no cover - a received report has a version by T
            continue
        value = 0 if version.zero else int(version.counts.get(item.item, 0))
        before = totals.get(report.region, ReportedCount(report.region, 0, 0))
        totals[report.region] = ReportedCount(
            report.region, before.count + value, before.months_reported + 1
        )
    return totals

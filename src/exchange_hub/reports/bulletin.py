"""Department reporting (部门信息报送) as a bulletin table, next to the exchange rates."""

from __future__ import annotations

from typing import Any

from exchange_hub.metrics.bulletin import (
    BulletinContext,
    column,
    ranked,
    rate_cell,
)
from exchange_hub.metrics.schemas import BulletinTable
from exchange_hub.reports.rates import REPORT_RATE_COLUMNS, ReportRateRow, compute_report_rates

_RATES = {"reporting_rate", "on_time_rate"}
_TEXT = {"region", "name"}


def report_row(row: ReportRateRow) -> dict[str, Any]:
    values: dict[str, Any] = {key: getattr(row, key) for key, _ in REPORT_RATE_COLUMNS}
    for key in _RATES:
        rate = getattr(row, key)
        values[key] = rate_cell(rate.numerator, rate.denominator)
    values["volume"] = row.expected
    return values


def reports_section(context: BulletinContext) -> list[BulletinTable]:
    """Who reported, how many on time, ranked by reporting rate (denominator: expected)."""
    request = context.request
    figures = compute_report_rates(
        context.session, region=request.region.code, period=request.period.label,
        level=request.level, as_of=request.as_of,
    )  # fmt: skip
    columns = [column("rank", "名次")] + [
        column(key, title, "text" if key in _TEXT else "rate" if key in _RATES else "int")
        for key, title in REPORT_RATE_COLUMNS
    ]
    rows = ranked([report_row(r) for r in figures.rows], "reporting_rate")
    total = {**report_row(figures.total), "rank": None}
    return [BulletinTable(key="department_reports", title="部门信息报送", columns=columns,
                          rows=[total, *rows])]  # fmt: skip

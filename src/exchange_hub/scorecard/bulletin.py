"""The two-way assessment as a bulletin table (one XLSX sheet, one CSV block)."""

from __future__ import annotations

from typing import Any

from exchange_hub.metrics.bulletin import (
    REGION_COLUMNS,
    BulletinContext,
    column,
    ranked,
    rate_cell,
)
from exchange_hub.metrics.schemas import BulletinTable
from exchange_hub.scorecard.config import default_config
from exchange_hub.scorecard.schemas import IndicatorResult, RegionScorecard
from exchange_hub.scorecard.service import build_scorecard


def _indicator_cell(result: IndicatorResult) -> dict[str, Any] | str:
    if result.status == "no_report":
        return "无报表"
    return rate_cell(result.numerator, result.denominator)


def _percent(score: float | None) -> float | None:
    """Scores as percentages with one decimal (a score is not a ratio of counts)."""
    return None if score is None else round(score * 100, 1)


def _met_text(met: bool | None) -> str:
    return "—" if met is None else "达标" if met else "未达标"


def scorecard_row(card: RegionScorecard) -> dict[str, Any]:
    row: dict[str, Any] = {
        "region": card.region, "name": card.name,
        "destination_score": _percent(card.destination_score),
        "origin_score": _percent(card.origin_score), "overall_score": _percent(card.overall_score),
        "overall_met": _met_text(card.overall_met),
        "unmet": sum(1 for r in card.indicators if r.met is False),
        "volume": 0,
    }  # fmt: skip
    for result in card.indicators:
        row[result.key] = _indicator_cell(result)
    return row


def _columns() -> list:  # type: ignore[type-arg]
    indicators = [column(i.key, i.zh, "rate") for i in default_config().indicators]
    return [
        *REGION_COLUMNS, column("destination_score", "流入地得分(%)", "number"),
        column("origin_score", "流出地得分(%)", "number"),
        column("overall_score", "综合得分(%)", "number"),
        column("overall_met", "综合达标", "text"), column("unmet", "未达标指标数"), *indicators,
    ]  # fmt: skip


def scorecard_section(context: BulletinContext) -> list[BulletinTable]:
    """双向考核: each region as destination and origin, ranked by its overall score."""
    request = context.request
    report = build_scorecard(context.session, request)
    rows = [
        {**scorecard_row(card), "overall_rate": {"rate": card.overall_score}}
        for card in report.rows
    ]
    ranked_rows = ranked(rows, "overall_rate")
    total = {**scorecard_row(report.total), "rank": None}
    return [
        BulletinTable(
            key="scorecard", title="双向考核", columns=_columns(), rows=[total, *ranked_rows]
        )
    ]

"""The two-way assessment as bulletin tables (XLSX sheets, CSV blocks): the scores with each
region's verdict and its reasons, and the indicators' definitions (指标口径), in the same
words as the console (``scorecard.explain``)."""

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
from exchange_hub.scorecard import explain
from exchange_hub.scorecard.config import default_config
from exchange_hub.scorecard.schemas import IndicatorResult, RegionScorecard
from exchange_hub.scorecard.service import build_scorecard

LANG = "zh"
NO_REPORT = "无月报"
"""The sheets' word for a missing report (the console says the same)."""


def _indicator_cell(result: IndicatorResult) -> dict[str, Any] | str:
    if result.status == "no_report":
        return NO_REPORT
    if result.status == "inconsistent":
        return f"{explain.status_label(result, LANG)} {result.numerator}/0"
    if result.status == "not_due":
        return explain.status_label(result, LANG)
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
        "verdict": explain.verdict_text(card, LANG),
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
        column("verdict", "结论及原因", "text"),
    ]  # fmt: skip


DEFINITION_COLUMNS = [
    column("name", "指标", "text"), column("role", "考核角色", "text"),
    column("weight", "权重", "number"), column("target", "目标(%)", "text"),
    column("formula", "计算公式", "text"), column("numerator", "分子", "text"),
    column("denominator", "分母", "text"), column("counts", "统计范围", "text"),
]  # fmt: skip
ROLE_NAMES = {"destination": "流入地", "origin": "流出地", "both": "双向"}


def definitions_table(card: RegionScorecard) -> BulletinTable:
    """指标口径: every indicator's formula, numerator, denominator and what counts, with the
    weight and target in force for ``card``, then the rules of the score."""
    words = explain.definitions(LANG)
    rows: list[dict[str, Any]] = [
        {
            "name": words[r.key].name, "role": ROLE_NAMES[r.role], "weight": r.weight,
            "target": ("≤ " if r.direction == "lower" else "≥ ") + explain.target_text(r.target),
            "formula": words[r.key].formula, "numerator": words[r.key].numerator,
            "denominator": words[r.key].denominator, "counts": words[r.key].counts,
        }
        for r in card.indicators
    ]  # fmt: skip
    rows += [
        {"name": "评分规则", "role": "", "weight": None, "target": "", "formula": line,
         "numerator": "", "denominator": "", "counts": ""}
        for line in explain.rules(card, LANG)
    ]  # fmt: skip
    return BulletinTable(
        key="scorecard_definitions", title="双向考核指标口径", columns=DEFINITION_COLUMNS,
        rows=rows,
    )  # fmt: skip


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
        ),
        definitions_table(report.total),
    ]

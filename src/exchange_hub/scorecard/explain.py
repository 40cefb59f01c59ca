"""The scorecard in words: verdicts, status labels and the rules, in Chinese or English.

The console page and the bulletin's sheets both write what this module says,
from the texts of ``indicators.toml`` (``[rules]``, ``[text]``), so the two
never disagree on what a figure means.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange_hub.scorecard.config import Indicator, ScoreConfig, default_config, label, rule_text
from exchange_hub.scorecard.schemas import IndicatorResult, RegionScorecard, VerdictReason

RULES = ("attainment", "role_score", "overall_score", "pass_rule", "statuses")


def percent(value: float, *, against: float | None = None) -> str:
    """A fraction as a percentage with one decimal; more when one would round onto
    ``against`` (a target in percent), so 94.96% never reads "95.0% below 95%"."""
    shown = value * 100
    for digits in (1, 2, 3):
        text = f"{shown:.{digits}f}"
        if against is None or float(text) != against:
            break
    return f"{text}%"


def target_text(target: float) -> str:
    """A target in percent as written by people: 95, 97.5."""
    return f"{target:g}"


def status_label(result: IndicatorResult, lang: str) -> str:
    """What stands in place of a rate that is not there (the same words as the footnote)."""
    return label(f"status.{result.status}", lang)


def verdict_label(card: RegionScorecard, lang: str) -> str:
    met = card.overall_met
    return label("verdict.none" if met is None else "verdict.met" if met else "verdict.unmet", lang)


def verdict_text(card: RegionScorecard, lang: str) -> str:
    """``未达标：重要信息登录率 2.3% 低于目标 95%；…`` — the verdict and every reason.

    Data problems of the same kind share one line (``另：A、B 无月报…``); a region
    without a score lists only its inconsistent figures (its missing reports say
    nothing more than "no score")."""
    decisive = [r for r in card.reasons if r.code != "data_problem"]
    lines = [reason_text(reason, lang) for reason in decisive]
    for status in ("inconsistent", "no_report"):
        if status == "no_report" and card.overall_met is None:
            continue
        grouped = [r for r in card.reasons if r.code == "data_problem" and r.status == status]
        if grouped:
            lines.append(_problem_text(status, grouped, lang))
    separator = "; " if lang == "en" else "；"
    colon = ": " if lang == "en" else "："
    return verdict_label(card, lang) + colon + separator.join(lines)


def reason_text(reason: VerdictReason, lang: str) -> str:
    """One decisive reason in words (data problems: ``verdict_text``)."""
    if reason.code in ("all_met", "score_below_target"):
        assert reason.rate is not None and reason.target is not None
        score = percent(reason.rate, against=reason.target)
        return label(
            f"reason.{reason.code}", lang, score=score, target=target_text(reason.target),
            count=reason.count,
        )  # fmt: skip
    if reason.code == "indicator_below_target":
        assert reason.rate is not None and reason.target is not None
        rate = percent(reason.rate, against=reason.target)
        key = f"reason.below_target.{reason.direction}"
        name = _name(reason.key, lang)
        return label(key, lang, name=name, rate=rate, target=target_text(reason.target))
    return label("reason.no_score", lang)


def _problem_text(status: str, reasons: list[VerdictReason], lang: str) -> str:
    joiner = ", " if lang == "en" else "、"
    if status == "inconsistent":
        names = joiner.join(f"{_name(r.key, lang)} {r.numerator}/0" for r in reasons)
    else:
        names = joiner.join(_name(r.key, lang) for r in reasons)
    return label(f"reason.data_problem.{status}", lang, names=names)


def _name(key: str | None, lang: str) -> str:
    indicator = default_config().indicator(key) if key else None
    return "" if indicator is None else indicator.text("name", lang)


@dataclass(frozen=True)
class Definition:
    """One indicator's 指标口径 in one language (weights and targets are the results')."""

    key: str
    name: str
    role: str
    formula: str
    numerator: str
    denominator: str
    counts: str
    report: str | None


def definitions(lang: str, config: ScoreConfig | None = None) -> dict[str, Definition]:
    """Every indicator's definition by key, in the order of ``indicators.toml``."""
    chosen = config or default_config()
    return {indicator.key: _definition(indicator, lang) for indicator in chosen.indicators}


def _definition(indicator: Indicator, lang: str) -> Definition:
    return Definition(
        key=indicator.key, name=indicator.text("name", lang), role=indicator.role,
        formula=indicator.text("formula", lang), numerator=indicator.text("numerator", lang),
        denominator=indicator.text("denominator", lang), counts=indicator.text("counts", lang),
        report=indicator.report,
    )  # fmt: skip


def rules(card: RegionScorecard, lang: str) -> list[str]:
    """How the score and the verdict are made, with this region's weights and pass mark."""
    values = {
        "destination_weight": f"{card.destination_weight:g}",
        "origin_weight": f"{card.origin_weight:g}",
        "overall_target": target_text(card.overall_target),
    }
    return [rule_text(name, lang).format(**values) for name in RULES]

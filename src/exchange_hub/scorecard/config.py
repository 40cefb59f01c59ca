"""The assessment's indicators, targets and weights: shipped defaults plus a province's own.

The defaults live in ``indicators.toml`` next to this module (one declarative
table); a province's changes are rows of ``scorecard_settings``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any, Literal

from sqlalchemy.orm import Session

from exchange_hub.models.scorecard import ScorecardSetting
from exchange_hub.scorecard import repository

Role = Literal["destination", "origin", "both"]
ROLE_KEYS = ("role.destination", "role.origin")
OVERALL_KEY = "overall"


@dataclass(frozen=True)
class Indicator:
    key: str
    role: Role
    zh: str
    en: str
    target: float
    weight: float
    direction: Literal["higher", "lower"]
    formula_zh: str
    formula_en: str
    numerator_zh: str
    numerator_en: str
    denominator_zh: str
    denominator_en: str
    counts_zh: str
    counts_en: str
    """What counts (指标口径): which records, messages or reports, and what is left out."""
    report: str | None = None
    """``department.item`` whose count is the denominator, when it comes from a report."""

    def text(self, part: str, lang: str) -> str:
        """One part of the definition (``formula``, ``numerator``, ``denominator``,
        ``counts``, or ``name``) in ``lang`` (``zh`` or ``en``, anything else is ``zh``)."""
        suffix = "en" if lang == "en" else "zh"
        return str(getattr(self, suffix if part == "name" else f"{part}_{suffix}"))


@dataclass(frozen=True)
class ScoreConfig:
    indicators: tuple[Indicator, ...]
    destination_weight: float
    origin_weight: float
    overall_target: float

    def indicator(self, key: str) -> Indicator | None:
        return next((i for i in self.indicators if i.key == key), None)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(i.key for i in self.indicators)


@cache
def _document() -> dict[str, Any]:
    text = resources.files("exchange_hub.scorecard").joinpath("indicators.toml").read_text("utf-8")
    return tomllib.loads(text)


def rule_text(name: str, lang: str) -> str:
    """A rule of the score (``attainment``, ``role_score``, ``overall_score``, ``pass_rule``,
    ``statuses``) in ``lang``, with its ``{placeholders}`` still to fill."""
    return str(_document()["rules"][f"{name}_{'en' if lang == 'en' else 'zh'}"])


def label(key: str, lang: str, /, **values: object) -> str:
    """A label or verdict line of ``[text]`` in ``lang``, its placeholders filled."""
    entry = _document()["text"][key]
    return str(entry["en" if lang == "en" else "zh"]).format(**values)


@cache
def default_config() -> ScoreConfig:
    document = _document()
    score = document["score"]
    return ScoreConfig(
        indicators=tuple(Indicator(**entry) for entry in document["indicator"]),
        destination_weight=float(score["destination_weight"]),
        origin_weight=float(score["origin_weight"]),
        overall_target=float(score["overall_target"]),
    )


def province_of(code: str) -> str:
    return code[:2] + "0000"


def config_for(session: Session, province: str) -> ScoreConfig:
    """The defaults with the province's own targets and weights applied."""
    base = default_config()
    return apply_settings(base, repository.settings_of(session, province))


def apply_settings(base: ScoreConfig, rows: Iterable[ScorecardSetting]) -> ScoreConfig:
    by_key = {row.key: row for row in rows}
    indicators = tuple(
        replace(
            item,
            target=_pick(by_key, item.key, "target", item.target),
            weight=_pick(by_key, item.key, "weight", item.weight),
        )
        for item in base.indicators
    )
    return ScoreConfig(
        indicators=indicators,
        destination_weight=_pick(by_key, "role.destination", "weight", base.destination_weight),
        origin_weight=_pick(by_key, "role.origin", "weight", base.origin_weight),
        overall_target=_pick(by_key, OVERALL_KEY, "target", base.overall_target),
    )


def _pick(rows: dict[str, ScorecardSetting], key: str, attribute: str, default: float) -> float:
    row = rows.get(key)
    value = getattr(row, attribute) if row is not None else None
    return default if value is None else float(value)

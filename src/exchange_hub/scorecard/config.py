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
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange_hub.models.scorecard import ScorecardSetting

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
    numerator: str
    denominator: str
    report: str | None = None
    """``department.item`` whose count is the denominator, when it comes from a report."""


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
def default_config() -> ScoreConfig:
    text = resources.files("exchange_hub.scorecard").joinpath("indicators.toml").read_text("utf-8")
    document = tomllib.loads(text)
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
    rows = session.scalars(
        select(ScorecardSetting).where(ScorecardSetting.province == province)
    ).all()
    return apply_settings(base, rows)


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

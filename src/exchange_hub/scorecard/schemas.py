"""Contracts of the two-way assessment (双向考核)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from exchange_hub.request_body import PROVINCE_CODE, RequestBody
from exchange_hub.scorecard.config import OVERALL_KEY, ROLE_KEYS, default_config

Status = Literal["ok", "no_data", "no_report", "not_due", "inconsistent"]
ReasonCode = Literal[
    "all_met", "score_below_target", "indicator_below_target", "no_score", "data_problem"
]


class IndicatorResult(BaseModel):
    key: str
    role: Literal["destination", "origin", "both"]
    zh: str
    en: str
    numerator: int
    denominator: int
    rate: float | None = Field(description="numerator / denominator as a fraction; null on 0")
    target: float = Field(description="target in percent")
    weight: float
    direction: Literal["higher", "lower"]
    met: bool | None = Field(description="null when there is no rate to judge")
    status: Status = Field(
        description="ok: there is a rate; no_data: 0/0; no_report: the department report "
        "behind the denominator is past its deadline and missing; not_due: that report is "
        "not due yet; inconsistent: a numerator above 0 over a denominator of 0 (e.g. 4/0)"
    )
    report: str | None = Field(None, description="department.item behind the denominator, if any")
    months_without_report: int = 0


class VerdictReason(BaseModel):
    """Why a region is 达标 or not: one line of the verdict.

    ``all_met``: the score reaches the pass mark and every indicator with a rate
    meets its target (``count`` of them); ``score_below_target``: the overall
    score (``rate``) is below the pass mark (``target``); ``indicator_below_target``:
    the indicator ``key`` (``rate``) misses its ``target``; ``no_score``: no
    indicator has a rate; ``data_problem``: the indicator ``key`` has no rate
    because of its data (``status`` no_report or inconsistent) — shown, not decisive.
    """

    code: ReasonCode
    key: str | None = None
    rate: float | None = Field(None, description="fraction; the score for score_below_target")
    target: float | None = Field(None, description="percent")
    direction: Literal["higher", "lower"] | None = None
    status: Status | None = None
    numerator: int | None = None
    denominator: int | None = None
    count: int | None = None


class RegionScorecard(BaseModel):
    region: str
    name: str
    level: str
    indicators: list[IndicatorResult]
    destination_score: float | None = Field(description="weighted attainment as destination, 0–1")
    origin_score: float | None
    overall_score: float | None
    destination_weight: float = Field(description="weight of the destination score in overall")
    origin_weight: float
    overall_target: float = Field(description="pass mark of the overall score, percent")
    overall_met: bool | None = Field(
        description="the score reaches overall_target and every indicator with a rate meets "
        "its target; null when there is no score"
    )
    reasons: list[VerdictReason] = Field(description="why overall_met is what it is")


class ScorecardReport(BaseModel):
    region: str
    name: str
    period: str
    months: list[str]
    as_of: datetime
    level: str
    total: RegionScorecard
    rows: list[RegionScorecard]


def setting_shapes() -> dict[str, Any]:
    """``scorecard.settings._check_values``: an indicator takes a target and/or a weight,
    a role a weight only, the overall score a target only."""
    number = {"type": "number"}
    return {
        "anyOf": [
            {
                "properties": {"key": {"enum": list(default_config().keys)}},
                "anyOf": [{"properties": {"target": number}, "required": ["target"]},
                          {"properties": {"weight": number}, "required": ["weight"]}],
            },
            {
                "properties": {"key": {"enum": list(ROLE_KEYS)}, "target": {"type": "null"},
                               "weight": number},
                "required": ["weight"],
            },
            {
                "properties": {"key": {"const": OVERALL_KEY}, "weight": {"type": "null"},
                               "target": number},
                "required": ["target"],
            },
        ]
    }  # fmt: skip


class ScorecardSettingWrite(RequestBody):
    """A province's own target and/or weight for an indicator, a role (``role.destination``,
    ``role.origin``: weight only) or the overall score (``overall``: target only)."""

    model_config = ConfigDict(json_schema_extra=lambda schema: schema.update(setting_shapes()))

    province: str = Field(pattern=PROVINCE_CODE)
    key: str = Field(max_length=60)
    target: float | None = Field(None, ge=0, le=100)
    weight: float | None = Field(None, ge=0, le=100)


class ScorecardSettingRead(BaseModel):
    province: str
    key: str
    target: float | None
    weight: float | None
    changed_by: str
    changed_at: datetime


class ScorecardSettings(BaseModel):
    province: str
    items: list[ScorecardSettingRead]


class BehindItem(BaseModel):
    """A record or message counted in an indicator's numerator or denominator (no person data)."""

    type: Literal["record", "message"]
    id: str
    region: str
    at: datetime
    detail: dict[str, object]


class BehindPage(BaseModel):
    indicator: str
    part: Literal["numerator", "denominator"]
    items: list[BehindItem]
    next_cursor: str | None

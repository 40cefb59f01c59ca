"""Contracts of the two-way assessment (双向考核)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from exchange_hub.request_body import RequestBody

Status = Literal["ok", "no_data", "no_report"]


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
        description="no_report: the department report behind the denominator is missing"
    )
    report: str | None = Field(None, description="department.item behind the denominator, if any")
    months_without_report: int = 0


class RegionScorecard(BaseModel):
    region: str
    name: str
    level: str
    indicators: list[IndicatorResult]
    destination_score: float | None = Field(description="weighted attainment as destination, 0–1")
    origin_score: float | None
    overall_score: float | None
    overall_target: float = Field(description="percent")
    overall_met: bool | None


class ScorecardReport(BaseModel):
    region: str
    name: str
    period: str
    months: list[str]
    as_of: datetime
    level: str
    total: RegionScorecard
    rows: list[RegionScorecard]


class ScorecardSettingWrite(RequestBody):
    """A province's own target and/or weight for an indicator, a role (``role.destination``,
    ``role.origin``: weight only) or the overall score (``overall``: target only)."""

    province: str = Field(max_length=6)
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

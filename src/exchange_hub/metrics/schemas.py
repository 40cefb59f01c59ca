"""Contracts of the figures endpoints (SPEC §9): each rate carries numerator and denominator."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Level = Literal["county", "prefecture", "province", "nation"]
Role = Literal["responder", "requester"]


class Rate(BaseModel):
    """A rate as numerator / denominator; ``rate`` is null when the denominator is 0 (shown "—")."""

    numerator: int
    denominator: int
    rate: float | None = Field(description="numerator / denominator as a fraction (0.892 = 89.2%)")


def make_rate(numerator: int, denominator: int) -> Rate:
    # Built by the hub from counts it computed: no validation needed (thousands per bulletin).
    return Rate.model_construct(
        numerator=numerator,
        denominator=denominator,
        rate=None if denominator == 0 else numerator / denominator,
    )


class QueryFigures(BaseModel):
    """Queries (协查): feedback rate (查询反馈率), no-such-person rate (查无此人率), timeliness."""

    routed: int
    due: int
    answered: int
    answered_on_time: int
    not_found: int
    overdue: int = Field(description="due, not answered, deadline passed (超期未反馈)")
    feedback_rate: Rate
    not_found_rate: Rate
    timely_rate: Rate


class NotificationFigures(BaseModel):
    """Notifications (通报): receipt rate (接收率)."""

    routed: int
    due: int
    received: int
    overdue: int
    receipt_rate: Rate


class RegionFigures(BaseModel):
    region: str
    name: str
    level: Level
    queries: QueryFigures
    notifications: NotificationFigures


class MatrixEntry(BaseModel):
    """One origin × destination cell: ``region`` (seen from ``role``) against a province."""

    region: str
    counterpart: str
    counterpart_name: str
    queries: QueryFigures
    notifications: NotificationFigures


class ExchangeReport(BaseModel):
    region: str
    name: str
    period: str
    months: list[str]
    as_of: datetime
    role: Role
    level: Level
    total: RegionFigures
    items: list[RegionFigures]
    matrix: list[MatrixEntry]


class LegLatency(BaseModel):
    """Latency of one leg from submission, in seconds (median, p90, p99; null when no data)."""

    leg: Literal["delivered", "received", "answered"]
    count: int
    median_seconds: float | None
    p90_seconds: float | None
    p99_seconds: float | None


class RegionLatency(BaseModel):
    region: str
    name: str
    level: Level
    queries: list[LegLatency]
    notifications: list[LegLatency]


class LatencyReport(BaseModel):
    region: str
    name: str
    period: str
    months: list[str]
    as_of: datetime
    role: Role
    level: Level
    relative_error: float = Field(
        description="percentiles come from histograms: within this fraction of the value, plus 1 s"
    )
    total: RegionLatency
    items: list[RegionLatency]


class BulletinColumn(BaseModel):
    key: str
    title: str
    type: Literal["text", "int", "rate", "number"]


class BulletinTable(BaseModel):
    """One table of the bulletin (one sheet in XLSX); rate cells are Rate objects."""

    key: str
    title: str
    columns: list[BulletinColumn]
    rows: list[dict[str, Any]]


class Bulletin(BaseModel):
    """每月通报: the monthly bulletin of the regions under an admin."""

    region: str
    name: str
    period: str
    as_of: datetime
    level: Level
    tables: list[BulletinTable]

"""Two-way assessment API (双向考核)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from exchange_hub.deps import CurrentCaller, DbSession, ReadSession
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.params import (
    AsOfQuery,
    CountyQuery,
    Level,
    PeriodQuery,
    ProvinceQuery,
    RegionQuery,
)
from exchange_hub.scorecard import behind, service, settings
from exchange_hub.scorecard.config import default_config
from exchange_hub.scorecard.schemas import (
    BehindPage,
    ScorecardReport,
    ScorecardSettingRead,
    ScorecardSettings,
    ScorecardSettingWrite,
)

router = APIRouter(prefix="/api/v1/scorecard", tags=["scorecard"])


READS_FIGURES = [Depends(refresh_after_reading)]


@router.get("", response_model=ScorecardReport, dependencies=READS_FIGURES)
def read_scorecard(
    session: ReadSession,
    caller: CurrentCaller,
    region: RegionQuery,
    period: PeriodQuery,
    level: Level | None = None,
    as_of: AsOfQuery = None,
) -> ScorecardReport:
    return service.scorecard_report(
        session, caller, region=region, period=period, level=level, as_of=as_of
    )


@router.get("/items", response_model=BehindPage, dependencies=READS_FIGURES)
def list_indicator_items(
    session: ReadSession,
    caller: CurrentCaller,
    region: CountyQuery,
    period: PeriodQuery,
    indicator: str = Query(json_schema_extra={"enum": list(default_config().keys)}),
    part: Literal["numerator", "denominator"] = "numerator",
    cursor: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=500),
    as_of: AsOfQuery = None,
) -> BehindPage:
    return behind.behind(
        session, caller, region=region, period=period, indicator=indicator, part=part,
        cursor=cursor, limit=limit, as_of=as_of,
    )  # fmt: skip


@router.get("/settings", response_model=ScorecardSettings)
def read_settings(
    session: DbSession, caller: CurrentCaller, province: ProvinceQuery
) -> ScorecardSettings:
    rows = settings.list_settings(session, caller, province)
    items = [ScorecardSettingRead.model_validate(r, from_attributes=True) for r in rows]
    return ScorecardSettings(province=province.ljust(6, "0"), items=items)


@router.put("/settings", response_model=ScorecardSettingRead)
def change_setting(
    body: ScorecardSettingWrite, session: DbSession, caller: CurrentCaller
) -> ScorecardSettingRead:
    row = settings.change_setting(session, caller, **body.model_dump())
    return ScorecardSettingRead.model_validate(row, from_attributes=True)

"""Figures API (SPEC §9): exchange rates, latency and the monthly bulletin.

These read through the primary session: serving figures first folds the
messages changed since the last refresh into the aggregates.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from exchange_hub.deps import CurrentCaller, DbSession
from exchange_hub.metrics import bulletin as bulletins
from exchange_hub.metrics import exports, service
from exchange_hub.metrics.schemas import Bulletin, ExchangeReport, LatencyReport

router = APIRouter(tags=["metrics"])

RegionQuery = Query(description="region code (6 digits; 44 or 4403 accepted), 000000 = nation")
PeriodQuery = Query(description="month 2026-10, quarter 2026-Q4 or year 2026 (Asia/Shanghai)")
LevelQuery = Query(None, description="break the region down to this level")
AsOfQuery = Query(None, description="evaluation time (ISO date or date-time); default now")
RoleQuery = Query(
    "responder", description="responder: queries routed to the region; requester: sent by it"
)


def figures_request(
    region: str = RegionQuery,
    period: str = PeriodQuery,
    level: Literal["county", "prefecture", "province", "nation"] | None = LevelQuery,
    as_of: str | None = AsOfQuery,
    role: Literal["responder", "requester"] = RoleQuery,
) -> dict[str, Any]:
    """The query parameters every figures endpoint shares, as service arguments."""
    return {"region": region, "period": period, "level": level, "as_of": as_of, "role": role}


FiguresRequest = Annotated[dict[str, Any], Depends(figures_request)]


@router.get("/api/v1/metrics/exchange", response_model=ExchangeReport)
def exchange_figures(
    session: DbSession, caller: CurrentCaller, request: FiguresRequest
) -> ExchangeReport:
    return service.exchange_report(session, caller, **request)


@router.get("/api/v1/metrics/latency", response_model=LatencyReport)
def latency_figures(
    session: DbSession, caller: CurrentCaller, request: FiguresRequest
) -> LatencyReport:
    return service.latency_report(session, caller, **request)


@router.get(
    "/api/v1/bulletin",
    response_model=Bulletin,
    responses={200: {"content": {exports.CSV_MEDIA_TYPE: {}, exports.XLSX_MEDIA_TYPE: {}}}},
)
def monthly_bulletin(
    session: DbSession,
    caller: CurrentCaller,
    region: str = RegionQuery,
    period: str = PeriodQuery,
    format: Literal["json", "csv", "xlsx"] = Query("json", description="json, csv or xlsx"),
    level: Literal["county", "prefecture", "province", "nation"] | None = LevelQuery,
    as_of: str | None = AsOfQuery,
) -> Bulletin | Response:
    """每月通报: regions under the caller ranked by each rate and by volume."""
    result = bulletins.build_bulletin(
        session, caller, region=region, period=period, level=level, as_of=as_of
    )
    if format == "json":
        return result
    content, media_type = exports.export(result, format)
    filename = f"bulletin-{result.region}-{result.period}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type=media_type, headers=headers)

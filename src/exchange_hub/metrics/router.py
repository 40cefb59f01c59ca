"""Figures API (SPEC §9): exchange rates, latency and the monthly bulletin.

These read through the read session (``HUB_READ_DATABASE_URL`` when set) and
write nothing; the bulletin's CSV or XLSX is built after that session closed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from exchange_hub.deps import CurrentCaller, ReadSession
from exchange_hub.metrics import bulletin as bulletins
from exchange_hub.metrics import exports, service
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.metrics.schemas import Bulletin, ExchangeReport, LatencyReport
from exchange_hub.params import AsOfQuery, Level, PeriodQuery, RegionQuery

router = APIRouter(tags=["metrics"], dependencies=[Depends(refresh_after_reading)])

LevelQuery = Query(None, description="break the region down to this level")
RoleQuery = Query(
    "responder", description="responder: queries routed to the region; requester: sent by it"
)


def figures_request(
    region: RegionQuery,
    period: PeriodQuery,
    level: Level | None = LevelQuery,
    as_of: AsOfQuery = None,
    role: Literal["responder", "requester"] = RoleQuery,
) -> dict[str, Any]:
    """The query parameters every figures endpoint shares, as service arguments."""
    return {"region": region, "period": period, "level": level, "as_of": as_of, "role": role}


FiguresRequest = Annotated[dict[str, Any], Depends(figures_request)]


@router.get("/api/v1/metrics/exchange", response_model=ExchangeReport)
def exchange_figures(
    session: ReadSession, caller: CurrentCaller, request: FiguresRequest
) -> ExchangeReport:
    return service.exchange_report(session, caller, **request)


@router.get("/api/v1/metrics/latency", response_model=LatencyReport)
def latency_figures(
    session: ReadSession, caller: CurrentCaller, request: FiguresRequest
) -> LatencyReport:
    return service.latency_report(session, caller, **request)


@router.get(
    "/api/v1/bulletin",
    response_model=Bulletin,
    responses={200: {"content": {exports.CSV_MEDIA_TYPE: {}, exports.XLSX_MEDIA_TYPE: {}}}},
)
def monthly_bulletin(
    session: ReadSession,
    caller: CurrentCaller,
    region: RegionQuery,
    period: PeriodQuery,
    format: Literal["json", "csv", "xlsx"] = Query("json", description="json, csv or xlsx"),
    level: Level | None = LevelQuery,
    as_of: AsOfQuery = None,
) -> Bulletin | Response:
    """每月通报: regions under the caller ranked by each rate and by volume."""
    result = bulletins.build_bulletin(
        session, caller, region=region, period=period, level=level, as_of=as_of
    )
    if format == "json":
        return result
    session.close()  # the export is built outside any transaction
    content, media_type = exports.export(result, format)
    filename = f"bulletin-{result.region}-{result.period}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type=media_type, headers=headers)

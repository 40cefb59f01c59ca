"""Figures API (SPEC §9): exchange rates and latency (the bulletin is ``bulletin/router.py``).

These read through the read session (``HUB_READ_DATABASE_URL`` when set) and
write nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from exchange_hub.deps import CurrentCaller, ReadSession
from exchange_hub.metrics import service
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.metrics.schemas import ExchangeReport, LatencyReport
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

"""Regions API (SPEC §9)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from exchange_hub.deps import CurrentCaller, ReadSession
from exchange_hub.params import RegionPath
from exchange_hub.regions import service
from exchange_hub.regions.schemas import RegionList, RegionRead
from exchange_hub.request_body import REGION_CODE

router = APIRouter(prefix="/api/v1/regions", tags=["regions"])


@router.get("/{code}", response_model=RegionRead)
def read_region(code: RegionPath, session: ReadSession, _caller: CurrentCaller) -> RegionRead:
    return RegionRead.model_validate(service.get_region(session, code, field="code"))


@router.get("", response_model=RegionList)
def list_regions(
    session: ReadSession,
    _caller: CurrentCaller,
    parent: str = Query(
        "000000", pattern=REGION_CODE, description="list the regions directly under this code"
    ),
) -> RegionList:
    items = service.list_children(session, parent)
    return RegionList(items=[RegionRead.model_validate(r) for r in items])

"""The monthly bulletin over HTTP (SPEC §9): ``GET /api/v1/bulletin`` as JSON, CSV, XLSX or PDF.

It reads through the read session (``HUB_READ_DATABASE_URL`` when set) and
writes nothing; the CSV, XLSX or PDF is built after that session closed.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from exchange_hub.bulletin import bulletin_file, read_bulletin
from exchange_hub.deps import CurrentCaller, ReadSession
from exchange_hub.metrics import exports
from exchange_hub.metrics.bulletin_pdf import PDF_MEDIA_TYPE
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.metrics.router import LevelQuery
from exchange_hub.metrics.schemas import Bulletin
from exchange_hub.params import AsOfQuery, Level, PeriodQuery, RegionQuery

# Tagged "metrics" as it was when the route lived there: the API document stays the same.
router = APIRouter(tags=["metrics"], dependencies=[Depends(refresh_after_reading)])
FILE_MEDIA_TYPES = (exports.CSV_MEDIA_TYPE, exports.XLSX_MEDIA_TYPE, PDF_MEDIA_TYPE)


@router.get(
    "/api/v1/bulletin",
    response_model=Bulletin,
    responses={200: {"content": {media_type: {} for media_type in FILE_MEDIA_TYPES}}},
)
def monthly_bulletin(
    session: ReadSession,
    caller: CurrentCaller,
    region: RegionQuery,
    period: PeriodQuery,
    format: Literal["json", "csv", "xlsx", "pdf"] = Query(
        "json", description="json, csv, xlsx or pdf (the printable bulletin, A4, with 环比)"
    ),
    level: Level | None = LevelQuery,
    as_of: AsOfQuery = None,
) -> Bulletin | Response:
    """每月通报: regions under the caller ranked by each rate and by volume."""
    read = read_bulletin(
        session, caller, format=format, region=region, period=period, level=level, as_of=as_of
    )
    if format == "json":
        return read.current
    session.close()  # the file is built outside any transaction
    content, media_type, filename = bulletin_file(read, format)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type=media_type, headers=headers)

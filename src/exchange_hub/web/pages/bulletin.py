"""每月通报: the month's bulletin of the regions under an admin, with XLSX and CSV downloads.

The tables and the files are the metrics domain's own (``build_bulletin``,
``exports.export``): the page shows exactly what the download holds, with
the bulletin's Chinese headings in both languages, as it is circulated.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from exchange_hub.members.scope import require_role
from exchange_hub.metrics import bulletin as bulletins
from exchange_hub.metrics import exports
from exchange_hub.metrics.schemas import Bulletin
from exchange_hub.web.pages import common
from exchange_hub.web.render import Page, render
from exchange_hub.web.session import Account, ConsoleRoute, unit_of_work

router = APIRouter(route_class=ConsoleRoute)
RegionParam = Annotated[str | None, Query(max_length=6)]
PeriodParam = Annotated[str | None, Query(max_length=8)]


def _bulletin(
    request: Request, account: Account, region: str | None, period: str | None
) -> Bulletin:
    caller = account.caller
    require_role(caller, "admin")
    with unit_of_work(request) as session:
        return bulletins.build_bulletin(
            session, caller, region=region or caller.region, period=common.chosen_period(period)
        )


@router.get("/bulletin", include_in_schema=False)
def bulletin_page(
    request: Request, account: Account, region: RegionParam = None, period: PeriodParam = None
) -> HTMLResponse:
    bulletin = _bulletin(request, account, region, period)
    values = {"bulletin": bulletin, "period": bulletin.period, "formats": ("xlsx", "csv")}
    return render(request, Page("bulletin.html", "nav.bulletin", values), account=account)


@router.get("/bulletin/download", include_in_schema=False)
def bulletin_download(
    request: Request,
    account: Account,
    format: Literal["xlsx", "csv"],
    region: RegionParam = None,
    period: PeriodParam = None,
) -> Response:
    """The same files as ``GET /api/v1/bulletin?format=…``, for a signed-in admin."""
    bulletin = _bulletin(request, account, region, period)
    content, media_type = exports.export(bulletin, format)
    filename = f"bulletin-{bulletin.region}-{bulletin.period}.{format}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    return Response(content, media_type=media_type, headers=headers)

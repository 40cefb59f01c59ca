"""每月通报: the month's bulletin of the regions under an admin, with XLSX, CSV and PDF downloads.

The tables and the files are the bulletin's own (``exchange_hub.bulletin``,
``metrics.exports.export``): the page shows exactly what the download holds, with
the bulletin's Chinese headings in both languages, as it is circulated.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from exchange_hub.bulletin import build_bulletin, bulletin_file, read_bulletin
from exchange_hub.metrics import exports
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.metrics.schemas import Bulletin, BulletinColumn
from exchange_hub.scope import require_role
from exchange_hub.web.pages import common
from exchange_hub.web.render import Page, format_number, format_rate, render
from exchange_hub.web.session import Account, ConsoleRoute, read_unit

router = APIRouter(route_class=ConsoleRoute, dependencies=[Depends(refresh_after_reading)])
RegionParam = Annotated[str | None, Query(max_length=6)]


def _bulletin(
    request: Request, account: Account, region: str | None, period: str | None
) -> Bulletin:
    caller = account.caller
    require_role(caller, "admin")
    with read_unit(request) as session:
        return build_bulletin(
            session, caller, region=region or caller.region, period=common.chosen_period(period)
        )


def _cell(column: BulletinColumn, value: Any) -> dict[str, Any]:
    """One table cell as text, with the fraction behind a rate and a sort key.

    Cells hold what the exports hold: a ``Rate`` (or its dict), a number, a
    word in place of a figure (无月报: no report), or None for "—".
    """
    if isinstance(value, str):
        return {"text": value, "sort": value, "numeric": False}
    if column.type == "rate":
        fraction = exports.rate_value(value)
        parts = value if isinstance(value, dict) else getattr(value, "__dict__", {})
        shown = f"{parts['numerator']}/{parts['denominator']}" if "numerator" in parts else ""
        return {
            "text": format_rate(fraction),
            "fraction": shown,
            "sort": -1 if fraction is None else fraction,
            "numeric": True,
        }
    if value is None:
        return {"text": "—", "sort": -1, "numeric": column.type != "text"}
    if column.type == "text":
        return {"text": str(value), "sort": str(value), "numeric": False}
    return {"text": format_number(value), "sort": value, "numeric": True}


def _rate_cell(value: Any) -> dict[str, Any]:
    fraction = exports.rate_value(value)
    if fraction is not None and not isinstance(fraction, int | float):
        return {"text": str(value), "sort": str(value), "numeric": False}
    parts = value.model_dump() if isinstance(value, BaseModel) else value
    shown = ""
    if isinstance(parts, dict) and "numerator" in parts and "denominator" in parts:
        shown = f"{parts['numerator']}/{parts['denominator']}"
    return {
        "text": format_rate(fraction),
        "fraction": shown,
        "sort": -1 if fraction is None else fraction,
        "numeric": True,
    }


# Code columns the files keep (a clerk keys them into other systems) and the page shows as
# the hover title of the name beside them.
CODE_OF_NAME = {"name": "region", "counterpart_name": "counterpart"}
OPEN_TABLES = 1  # the first table is unfolded; the others fold behind their titles


def _tables(bulletin: Bulletin) -> list[dict[str, Any]]:
    tables = []
    for index, table in enumerate(bulletin.tables):
        codes = {CODE_OF_NAME[c.key] for c in table.columns if c.key in CODE_OF_NAME}
        columns = [c for c in table.columns if c.key not in codes]
        rows = []
        for row in table.rows:
            cells = []
            for c in columns:
                cell = _cell(c, row.get(c.key))
                if c.key in CODE_OF_NAME and row.get(CODE_OF_NAME[c.key]):
                    cell["title"] = str(row[CODE_OF_NAME[c.key]])
                cells.append(cell)
            rows.append(cells)
        tables.append({"key": table.key, "title": table.title, "columns": columns,
                       "rows": rows, "open": index < OPEN_TABLES})  # fmt: skip
    return tables


@router.get("/bulletin", include_in_schema=False)
def bulletin_page(
    request: Request,
    account: Account,
    region: RegionParam = None,
    period: common.PeriodParam = None,
) -> HTMLResponse:
    bulletin = _bulletin(request, account, region, period)
    values = {
        "bulletin": bulletin,
        "tables": _tables(bulletin),
        "period": bulletin.period,
        "formats": ("xlsx", "csv", "pdf"),
    }
    return render(request, Page("bulletin.html", "nav.bulletin", values), account=account)


@router.get("/bulletin/download", include_in_schema=False)
def bulletin_download(
    request: Request,
    account: Account,
    format: Literal["xlsx", "csv", "pdf"],
    region: RegionParam = None,
    period: common.PeriodParam = None,
) -> Response:
    """The same files as ``GET /api/v1/bulletin?format=…``, for a signed-in admin; built
    after the page's read session closed."""
    caller = account.caller
    require_role(caller, "admin")
    with read_unit(request) as session:
        read = read_bulletin(
            session, caller, format=format, region=region or caller.region,
            period=common.chosen_period(period),
        )  # fmt: skip
    content, media_type, filename = bulletin_file(read, format)
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    return Response(content, media_type=media_type, headers=headers)

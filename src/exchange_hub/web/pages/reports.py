"""部门通报: department monthly reports — who reported, who is late, and zero reports (零通报)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from exchange_hub.metrics.schemas import make_rate
from exchange_hub.regions import service as regions
from exchange_hub.reports import service as reports
from exchange_hub.reports.rates import ReportCounts
from exchange_hub.scope import Caller, require_role
from exchange_hub.web.pages import common
from exchange_hub.web.render import Page, render
from exchange_hub.web.session import Account, ConsoleRoute, read_unit

router = APIRouter(route_class=ConsoleRoute)
LISTED_REPORTS = 500


@router.get("/reports", include_in_schema=False)
def reports_page(
    request: Request,
    account: Account,
    region: Annotated[str | None, Query(max_length=6)] = None,
    period: common.PeriodParam = None,
) -> HTMLResponse:
    with read_unit(request) as session:
        values = _reports(session, account.caller, region, period)
    return render(request, Page("reports.html", "nav.reports", values), account=account)


def _with_rates(row: ReportCounts) -> dict[str, object]:
    """Counts with reporting and on-time rates as fractions beside them (SPEC §5)."""
    return {
        "row": row,
        "reporting": make_rate(row.received, row.expected),
        "on_time": make_rate(row.on_time, row.expected),
    }


def _reports(
    session: Session, caller: Caller, region: str | None, period: str | None
) -> dict[str, Any]:
    require_role(caller, "admin")
    code = regions.get_region(session, region or caller.region).code
    label = common.chosen_period(period)
    rates = reports.rates_for(session, caller, region=code, period=label, level=None)
    rows = [_with_rates(row) for row in rates.rows]
    received = reports.list_reports(
        session, caller, region=code, period=label, limit=LISTED_REPORTS
    )
    return {
        "rates": rates,
        "region": code,
        "period": label,
        "rows": rows,
        "departments": [_with_rates(row) for row in rates.departments],
        "total": {
            "reporting": make_rate(rates.total.received, rates.total.expected),
            "on_time": make_rate(rates.total.on_time, rates.total.expected),
        },
        "missing": reports.missing_for(session, caller, region=code, period=label),
        "received": received.items,
        "region_names": regions.names_of(session, [item.region for item in received.items]),
        "more_received": received.next_cursor is not None,
    }

"""交换时效: how long messages take per leg (submitted → delivered, → received, → answered).

Percentiles come from the metrics service's mergeable histograms; the
regions under the admin are listed slowest first (by p90 of the answer leg).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from exchange_hub.metrics import service as metrics
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.metrics.schemas import LegLatency, RegionLatency
from exchange_hub.regions import service as regions
from exchange_hub.scope import Caller, require_admin_over, require_role
from exchange_hub.web.i18n import translator
from exchange_hub.web.pages import common
from exchange_hub.web.render import Page, render, request_language
from exchange_hub.web.session import Account, ConsoleRoute, read_unit

router = APIRouter(route_class=ConsoleRoute, dependencies=[Depends(refresh_after_reading)])
KINDS = ("queries", "notifications")
HOUR = 3600.0


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value / HOUR, 1)


def _leg_chart(total: RegionLatency, kind: str, t: Any) -> dict[str, Any]:
    legs: list[LegLatency] = getattr(total, kind)
    names = [t("leg." + leg.leg) for leg in legs]
    series = {
        t("latency.median"): [_hours(leg.median_seconds) for leg in legs],
        t("latency.p90"): [_hours(leg.p90_seconds) for leg in legs],
        t("latency.p99"): [_hours(leg.p99_seconds) for leg in legs],
    }
    return common.bar_chart(names, series, " " + t("unit.hours_axis"))


def _slowest_first(items: list[RegionLatency]) -> list[dict[str, Any]]:
    """Regions by p90 of the answer leg of queries, slowest first; regions without data last."""
    rows = []
    for item in items:
        legs = {leg.leg: leg for leg in item.queries}
        rows.append(
            {
                "region": item.region,
                "name": item.name,
                "legs": legs,
                "notification_legs": {leg.leg: leg for leg in item.notifications},
            }
        )
    return sorted(
        rows,
        key=lambda r: (
            r["legs"]["answered"].p90_seconds is None,
            -(r["legs"]["answered"].p90_seconds or 0),
        ),
    )


def _latency(
    session: Session, caller: Caller, t: Any, region: str | None, period: str | None, role: str
) -> dict[str, Any]:
    require_role(caller, "admin")
    top = regions.get_region(session, region or caller.region)
    require_admin_over(caller, top.code)
    label = common.chosen_period(period)
    report = metrics.latency_report(
        session,
        caller,
        region=top.code,
        period=label,
        level=common.child_level(top.level),
        role=role,
        as_of=None,
    )
    return {
        "report": report,
        "period": label,
        "charts": {kind: _leg_chart(report.total, kind, t) for kind in KINDS},
        "rows": _slowest_first(report.items),
        "legs": ("delivered", "received", "answered"),
        "role": role,
        "roles": metrics.ROLES,
    }


@router.get("/latency", include_in_schema=False)
def latency_page(
    request: Request,
    account: Account,
    region: Annotated[str | None, Query(max_length=6)] = None,
    period: common.PeriodParam = None,
    role: Literal["responder", "requester"] = "responder",
) -> HTMLResponse:
    """As responder: messages addressed to the regions; as requester: those they sent."""
    t = translator(request_language(request))
    with read_unit(request) as session:
        values = _latency(session, account.caller, t, region, period, role)
    return render(request, Page("latency.html", "nav.latency", values), account=account)

"""概览 and 逐级查看: an admin's region at a glance, and drilling down to one county.

Figures come from ``metrics.service`` (SPEC §5 rates with numerators and
denominators) and ``reports.service`` (department reports); the ranking is
the bulletin's own (``metrics.bulletin.ranked``), so the console and the
exported bulletin never disagree.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from exchange_hub.exchange import inbox
from exchange_hub.metrics import service as metrics
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.metrics.schemas import ExchangeReport, RegionFigures, make_rate
from exchange_hub.models import Region
from exchange_hub.regions import service as regions
from exchange_hub.reports import service as reports
from exchange_hub.scope import Caller, require_admin_over, require_role
from exchange_hub.web.i18n import translator
from exchange_hub.web.pages import common
from exchange_hub.web.render import Page, render, request_language
from exchange_hub.web.session import Account, ConsoleRoute, unit_of_work

router = APIRouter(route_class=ConsoleRoute, dependencies=[Depends(refresh_after_reading)])
RegionParam = Annotated[str | None, Query(max_length=6)]
PeriodParam = Annotated[str | None, Query(max_length=8)]
OPEN_QUERY_LIMIT = 200


def _report(session: Session, caller: Caller, code: str, period: str, level: str) -> ExchangeReport:
    return metrics.exchange_report(
        session, caller, region=code, period=period, level=level, role="responder", as_of=None
    )


def _row(item: RegionFigures) -> dict[str, Any]:
    queries, notifications = item.queries, item.notifications
    return {
        "region": item.region,
        "name": item.name,
        "routed": queries.routed,
        "due": queries.due,
        "overdue": queries.overdue,
        "feedback_rate": queries.feedback_rate,
        "timely_rate": queries.timely_rate,
        "not_found_rate": queries.not_found_rate,
        "receipt_rate": notifications.receipt_rate,
    }


def _ranking(report: ExchangeReport) -> tuple[list[dict[str, Any]], set[str]]:
    """Regions by feedback rate, best first (1, 2, 2, 4); "—" rows last, unranked.

    The worst: the lowest rate, marked once at least two regions can be compared.
    """
    rows = [_row(item) for item in report.items]
    rated = sorted(
        (r for r in rows if r["feedback_rate"].rate is not None),
        key=lambda r: (-r["feedback_rate"].rate, -r["routed"], r["region"]),
    )
    for position, row in enumerate(rated, start=1):
        same = (
            position > 1 and rated[position - 2]["feedback_rate"].rate == row["feedback_rate"].rate
        )
        row["rank"] = rated[position - 2]["rank"] if same else position
    unrated = [{**r, "rank": None} for r in rows if r["feedback_rate"].rate is None]
    if len(rated) < 2:
        return rated + unrated, set()
    lowest = rated[-1]["feedback_rate"].rate
    return rated + unrated, {r["region"] for r in rated if r["feedback_rate"].rate == lowest}


def _trend(
    session: Session, caller: Caller, code: str, level: str, period: str, t: Any
) -> dict[str, Any]:
    """The four exchange rates of the region over the 12 months up to ``period``."""
    months = common.months_back(period)
    series: dict[str, list[float | None]] = {
        t("rate.feedback"): [],
        t("rate.timely"): [],
        t("rate.not_found"): [],
        t("rate.receipt"): [],
    }
    for month in months:
        total = _report(session, caller, code, month, level).total
        values = (
            total.queries.feedback_rate,
            total.queries.timely_rate,
            total.queries.not_found_rate,
            total.notifications.receipt_rate,
        )
        for name, rate in zip(series, values, strict=True):
            series[name].append(common.percent(rate.rate))
    return common.line_chart(months, series)


def _report_rates(
    session: Session, caller: Caller, code: str, period: str, level: str
) -> dict[str, Any]:
    found = reports.rates_for(session, caller, region=code, period=period, level=level)
    total = found.total
    return {
        "reporting": make_rate(total.received, total.expected),
        "on_time": make_rate(total.on_time, total.expected),
    }


def _scoped_region(session: Session, caller: Caller, region: str | None) -> Region:
    require_role(caller, "admin")
    top = regions.get_region(session, region or caller.region)
    require_admin_over(caller, top.code)
    return top


def _overview(
    session: Session, caller: Caller, t: Any, region: str | None, period: str | None
) -> dict[str, Any]:
    top = _scoped_region(session, caller, region)
    label = common.chosen_period(period)
    level = common.child_level(top.level)
    report = _report(session, caller, top.code, label, level)
    rows, worst = _ranking(report)
    return {
        "report": report,
        "period": label,
        "rows": rows,
        "worst": worst,
        "trend": _trend(session, caller, top.code, top.level, label, t),
        "report_rates": _report_rates(session, caller, top.code, label, level),
    }


@router.get("/overview", include_in_schema=False)
def overview_page(
    request: Request, account: Account, region: RegionParam = None, period: PeriodParam = None
) -> HTMLResponse:
    t = translator(request_language(request))
    with unit_of_work(request) as session:
        values = _overview(session, account.caller, t, region, period)
    return render(request, Page("overview.html", "nav.overview", values), account=account)


def _drilldown(
    session: Session, caller: Caller, region: str | None, period: str | None
) -> dict[str, Any]:
    top = _scoped_region(session, caller, region)
    label = common.chosen_period(period)
    is_county = top.level == "county"
    level = "county" if is_county else common.child_level(top.level)
    report = _report(session, caller, top.code, label, level)
    rows, worst = _ranking(report)
    return {
        "report": report,
        "period": label,
        "rows": [] if is_county else rows,
        "worst": worst,
        "trail": common.breadcrumbs(session, caller, top.code),
        "is_county": is_county,
        "queries": _open_queries(session, caller, top.code) if is_county else [],
    }


@router.get("/drilldown", include_in_schema=False)
def drilldown_page(
    request: Request, account: Account, region: RegionParam = None, period: PeriodParam = None
) -> HTMLResponse:
    """Province → prefecture → county → that county's overdue and open queries."""
    with unit_of_work(request) as session:
        values = _drilldown(session, account.caller, region, period)
    return render(request, Page("drilldown.html", "nav.drilldown", values), account=account)


def _open_queries(session: Session, caller: Caller, county: str) -> list[dict[str, Any]]:
    """The county's open queries, overdue first; person data masked unless granted (audited)."""
    found = inbox.open_queries_of(session, caller, county, limit=OPEN_QUERY_LIMIT)
    items = [
        {**summary, "subject": common.subject_for(caller, content)} for summary, content in found
    ]
    ids = [summary["id"] for summary, _ in found]
    common.audit_person_data_read(session, caller, ids, page="drilldown")
    items.sort(key=lambda item: (not item["overdue"], item["deadline"]))
    return items

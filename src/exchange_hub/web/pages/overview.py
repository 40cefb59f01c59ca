"""概览 and 逐级查看: an admin's region at a glance, and drilling down to one county.

Both directions of the two-way assessment (双向考核) are shown: the region as
户籍地 (``responder``: the queries and notifications it received and answered)
and as 现居住地 (``requester``: the ones it sent, and how the other side
answered). The overview's headline shows both at once; ranking, trend and
drill-down follow the 统计角度 (``role``) switch.

Figures come from ``metrics.service`` (SPEC §5 rates with numerators and
denominators) and ``reports.service`` (department reports); the ranking is
the bulletin's own order, so the console and the exported bulletin never
disagree. Trend targets are the scorecard's (``scorecard.targets``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from exchange_hub.exchange import inbox
from exchange_hub.metrics import service as metrics
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.metrics.schemas import ExchangeReport, Rate, RegionFigures, make_rate
from exchange_hub.models import Region
from exchange_hub.regions import service as regions
from exchange_hub.reports import service as reports
from exchange_hub.scope import Caller, require_admin_over, require_role
from exchange_hub.scorecard import targets as scorecard_targets
from exchange_hub.web.i18n import Translate, translator
from exchange_hub.web.pages import common
from exchange_hub.web.render import Page, render, request_language
from exchange_hub.web.session import Account, ConsoleRoute, read_unit, unit_of_work

router = APIRouter(route_class=ConsoleRoute, dependencies=[Depends(refresh_after_reading)])
RegionParam = Annotated[str | None, Query(max_length=6)]
Role = Literal["responder", "requester"]
ShowAll = Annotated[bool, Query(alias="all")]
OPEN_QUERY_LIMIT = 200

RATES = (
    # (rate, label, hint): queries' rates, then notifications' receipt rate.
    ("feedback_rate", "rate.feedback", "overview.answered_of_due"),
    ("timely_rate", "rate.timely", "overview.on_time_of_due"),
    ("not_found_rate", "rate.not_found", "overview.not_found_of_answered"),
    ("receipt_rate", "rate.receipt", "overview.received_of_due"),
)
TREND_COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd")


def _report(
    session: Session, caller: Caller, code: str, period: str, level: str, role: str
) -> ExchangeReport:
    return metrics.exchange_report(
        session, caller, region=code, period=period, level=level, role=role, as_of=None
    )


def rate_of(figures: RegionFigures, rate: str) -> Rate:
    side = figures.notifications if rate == "receipt_rate" else figures.queries
    found: Rate = getattr(side, rate)
    return found


def _rate_or_none(figures: RegionFigures | None, rate: str) -> Rate | None:
    return None if figures is None else rate_of(figures, rate)


def is_idle(figures: RegionFigures) -> bool:
    """No query and no notification in the period, from this side: nothing to judge."""
    return figures.queries.routed == 0 and figures.notifications.routed == 0


# -- headline: the region's own rates, with 环比 and 同比 ---------------------------------
def _headline(
    session: Session, caller: Caller, top: Region, period: str, role: str, t: Translate
) -> dict[str, Any]:
    """The region's rates as ``role`` in ``period``, each beside its change in percentage
    points against the previous period (环比) and the same period a year before (同比)."""
    total = _report(session, caller, top.code, period, top.level, role).total
    before, year_ago = common.previous_period(period), common.year_before(period)
    previous = _report(session, caller, top.code, before, top.level, role).total if before else None
    last_year = (
        _report(session, caller, top.code, year_ago, top.level, role).total if year_ago else None
    )
    cards = []
    for rate, label, hint in RATES:
        current = rate_of(total, rate)
        mom = common.point_change(current, _rate_or_none(previous, rate))
        yoy = common.point_change(current, _rate_or_none(last_year, rate))
        cards.append({
            "rate": rate, "label": t(label), "hint": t(hint), "value": current,
            "mom": mom, "yoy": yoy,
            "mom_text": common.signed_points(mom), "yoy_text": common.signed_points(yoy),
        })  # fmt: skip
    return {
        "role": role,
        "figures": total,
        "cards": cards,
        "previous": common.period_name(before, t) if before else "—",
        "year_ago": common.period_name(year_ago, t) if year_ago else "—",
    }


# -- ranking --------------------------------------------------------------------------
def _row(item: RegionFigures) -> dict[str, Any]:
    queries, notifications = item.queries, item.notifications
    return {
        "region": item.region,
        "name": item.name,
        "routed": queries.routed,
        "notifications_routed": notifications.routed,
        "idle": is_idle(item),
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


def _compact(
    rows: list[dict[str, Any]], show_all: bool, path: str, params: dict[str, str]
) -> dict[str, Any]:
    """Regions idle in the period are hidden unless ``all``; the links keep the other
    parameters."""
    idle = sum(1 for row in rows if row["idle"])
    return {
        "rows": rows if show_all else [row for row in rows if not row["idle"]],
        "idle": idle,
        "show_all": show_all,
        "all_url": common.page_url(path, {**params, "all": "1"}),
        "compact_url": common.page_url(path, params),
    }


# -- trend ----------------------------------------------------------------------------
def _trend(
    session: Session, caller: Caller, top: Region, period: str, role: str, t: Translate
) -> dict[str, Any]:
    """The four exchange rates of the region as ``role`` over the 12 months up to
    ``period``, with the scorecard's targets; a month without any message says 无数据."""
    months = common.months_back(period)
    totals = [_report(session, caller, top.code, month, top.level, role).total for month in months]
    series = {
        t(label): [common.percent(rate_of(total, rate).rate) for total in totals]
        for rate, label, _ in RATES
    }
    chart = common.line_chart(months, series)
    names = [common.period_name(month, t) for month in months]
    chart["layout"]["xaxis"].update(tickvals=months, ticktext=names)
    for trace, colour in zip(chart["data"], TREND_COLOURS, strict=True):
        trace["line"] = {"color": colour}
    targets = scorecard_targets.exchange_targets(session, caller, region=top.code, role=role)
    for (rate, label, _), colour in zip(RATES, TREND_COLOURS, strict=True):
        if (target := targets.get(rate)) is not None:
            chart["data"].append(_target_trace(months, t(label), target, colour, t))
    idle_months = [month for month, total in zip(months, totals, strict=True) if is_idle(total)]
    chart["layout"]["annotations"] = [
        {"x": month, "y": 50, "text": t("trend.no_data"), "showarrow": False,
         "textangle": -90, "font": {"color": "#616e7c"}}
        for month in idle_months
    ]  # fmt: skip
    table = [
        {"name": name, "no_data": is_idle(total),
         "rates": [rate_of(total, rate) for rate, _, _ in RATES]}
        for name, total in zip(names, totals, strict=True)
    ]  # fmt: skip
    return {"chart": chart, "table": table, "targets": _target_texts(targets, t)}


def _target_trace(
    months: list[str],
    label: str,
    target: scorecard_targets.RateTarget,
    colour: str,
    t: Translate,
) -> dict[str, Any]:
    return {
        "type": "scatter", "mode": "lines", "x": months, "y": [target.target] * len(months),
        "name": t("trend.target", rate=label, target=f"{target.target:g}"),
        "line": {"color": colour, "dash": "dot", "width": 1}, "hoverinfo": "name",
    }  # fmt: skip


def _target_texts(targets: dict[str, scorecard_targets.RateTarget], t: Translate) -> list[str]:
    return [
        t(
            "trend.target_" + targets[rate].direction,
            rate=t(label),
            target=f"{targets[rate].target:g}",
        )
        for rate, label, _ in RATES
        if rate in targets
    ]


# -- pages ----------------------------------------------------------------------------
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


def _common_values(top: Region, label: str, role: str, t: Translate) -> dict[str, Any]:
    return {
        "period": label,
        "period_name": common.period_name(label, t),
        "role": role,
        "roles": metrics.ROLES,
        "region": top.code,
    }


def _overview(
    session: Session, caller: Caller, t: Translate, choice: dict[str, Any]
) -> dict[str, Any]:
    top = _scoped_region(session, caller, choice["region"])
    label, role = common.chosen_period(choice["period"]), choice["role"]
    level = common.child_level(top.level)
    report = _report(session, caller, top.code, label, level, role)
    rows, worst = _ranking(report)
    params = {"region": top.code, "period": label, "role": role}
    return {
        **_common_values(top, label, role, t),
        "report": report,
        "headlines": [_headline(session, caller, top, label, side, t) for side in metrics.ROLES],
        "ranking": _compact(rows, choice["show_all"], "/console/overview", params),
        "worst": worst,
        "trend": _trend(session, caller, top, label, role, t),
        "report_rates": _report_rates(session, caller, top.code, label, level),
    }


@router.get("/overview", include_in_schema=False)
def overview_page(
    request: Request,
    account: Account,
    region: RegionParam = None,
    period: common.PeriodParam = None,
    role: Role = "responder",
    show_all: ShowAll = False,
) -> HTMLResponse:
    t = translator(request_language(request))
    choice = {"region": region, "period": period, "role": role, "show_all": show_all}
    with read_unit(request) as session:
        values = _overview(session, account.caller, t, choice)
    return render(request, Page("overview.html", "nav.overview", values), account=account)


def _drilldown(
    session: Session, caller: Caller, t: Translate, choice: dict[str, Any]
) -> dict[str, Any]:
    top = _scoped_region(session, caller, choice["region"])
    label, role = common.chosen_period(choice["period"]), choice["role"]
    is_county = top.level == "county"
    level = "county" if is_county else common.child_level(top.level)
    report = _report(session, caller, top.code, label, level, role)
    rows, worst = _ranking(report)
    params = {"region": top.code, "period": label, "role": role}
    queries = _open_queries(session, caller, top.code, label, role) if is_county else []
    return {
        **_common_values(top, label, role, t),
        "report": report,
        "headline": _headline(session, caller, top, label, role, t),
        "ranking": _compact([] if is_county else rows, choice["show_all"], "/console/drilldown",
                            params),
        "worst": worst,
        "trail": common.breadcrumbs(session, caller, top.code),
        "is_county": is_county,
        "queries": queries,
        "person_data_ids": [item["id"] for item in queries],
    }  # fmt: skip


@router.get("/drilldown", include_in_schema=False)
def drilldown_page(
    request: Request,
    account: Account,
    region: RegionParam = None,
    period: common.PeriodParam = None,
    role: Role = "responder",
    show_all: ShowAll = False,
) -> HTMLResponse:
    """Province → prefecture → county → that county's open queries of the period."""
    t = translator(request_language(request))
    choice = {"region": region, "period": period, "role": role, "show_all": show_all}
    with read_unit(request) as session:
        values = _drilldown(session, account.caller, t, choice)
    shown = values.pop("person_data_ids")
    if shown and account.caller.person_data_grant:  # audited on the primary (SPEC §6)
        with unit_of_work(request) as writer:
            common.audit_person_data_read(writer, account.caller, shown, page="drilldown")
    return render(request, Page("drilldown.html", "nav.drilldown", values), account=account)


def _open_queries(
    session: Session, caller: Caller, county: str, period: str, role: str
) -> list[dict[str, Any]]:
    """The county's open queries submitted in ``period``, overdue first: those it received
    (as 户籍地, ``responder``) or those it sent and still waits for (``requester``); the
    other side named, person data masked unless granted (audited)."""
    sent = role == "requester"
    found = inbox.open_queries_of(
        session, caller, county, limit=OPEN_QUERY_LIMIT, period=period, sent=sent
    )
    other = "to_region" if sent else "from_region"
    names = regions.names_of(session, sorted({summary[other] for summary, _ in found}))
    items = [
        {**summary, "subject": common.subject_for(caller, content),
         "other": summary[other], "other_name": names.get(summary[other], summary[other])}
        for summary, content in found
    ]  # fmt: skip
    items.sort(key=lambda item: (not item["overdue"], item["deadline"]))
    return items

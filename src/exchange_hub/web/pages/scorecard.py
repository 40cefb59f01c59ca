"""双向考核: each region judged as destination (流入地) and as origin (流出地) against targets.

Every rate stands next to its definition (指标口径: formula, numerator,
denominator, what counts), weight and target; the page states how the score
is made and, per region, why it is 达标 or not (``scorecard.explain``, the
same words as the bulletin's sheet). Unmet indicators are highlighted; for
one county, a numerator or denominator opens the records or messages behind
it (``scorecard.behind``, no person data).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.regions import service as regions
from exchange_hub.scope import require_role
from exchange_hub.scorecard import behind, explain
from exchange_hub.scorecard import service as scorecards
from exchange_hub.scorecard.config import default_config
from exchange_hub.web.pages import common
from exchange_hub.web.render import Page, render, request_language
from exchange_hub.web.session import Account, ConsoleRoute, read_unit

router = APIRouter(route_class=ConsoleRoute, dependencies=[Depends(refresh_after_reading)])
RegionParam = Annotated[str | None, Query(max_length=6)]
ITEMS_PAGE = 100


@router.get("/scorecard", include_in_schema=False)
def scorecard_page(
    request: Request,
    account: Account,
    region: RegionParam = None,
    period: common.PeriodParam = None,
) -> HTMLResponse:
    caller = account.caller
    require_role(caller, "admin")
    label = common.chosen_period(period)
    with read_unit(request) as session:
        top = regions.get_region(session, region or caller.region)
        report = scorecards.scorecard_report(
            session,
            caller,
            region=top.code,
            period=label,
            level=common.child_level(top.level),
            as_of=None,
        )
    lang = request_language(request)
    values = {
        "report": report, "period": label, "is_county": top.level == "county",
        "definitions": explain.definitions(lang), "rules": explain.rules(report.total, lang),
        "verdict": lambda card: explain.verdict_text(card, lang),
        "verdict_label": lambda card: explain.verdict_label(card, lang),
        "status_label": lambda result: explain.status_label(result, lang),
    }  # fmt: skip
    return render(request, Page("scorecard.html", "nav.scorecard", values), account=account)


@router.get("/scorecard/items", include_in_schema=False)
def scorecard_items_page(
    request: Request,
    account: Account,
    region: Annotated[str, Query(max_length=6)],
    indicator: Annotated[str, Query(max_length=60)],
    part: Annotated[str, Query(max_length=12)] = "numerator",
    period: common.PeriodParam = None,
    cursor: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """The records or messages counted in one part of one indicator of one county."""
    caller = account.caller
    require_role(caller, "admin")
    label = common.chosen_period(period)
    with read_unit(request) as session:
        page = behind.behind(
            session,
            caller,
            region=region,
            period=label,
            indicator=indicator,
            part=part,
            cursor=cursor,
            limit=ITEMS_PAGE,
        )
        region_name = regions.get_region(session, region).name
    named = default_config().indicator(indicator)
    values = {
        "page": page,
        "region": region,
        "period": label,
        "cursor": cursor,
        "region_name": region_name,
        "indicator_names": {"zh": named.zh, "en": named.en} if named else {},
    }
    return render(request, Page("scorecard_items.html", "nav.scorecard", values), account=account)

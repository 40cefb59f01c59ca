"""我的账号: who is signed in, with which scope and grant."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from exchange_hub.deps import Hub
from exchange_hub.regions import service as regions
from exchange_hub.web.render import Page, render
from exchange_hub.web.session import Account, ConsoleRoute, unit_of_work

router = APIRouter(route_class=ConsoleRoute)


@router.get("/account", include_in_schema=False)
def account_page(request: Request, hub: Hub, account: Account) -> HTMLResponse:
    with unit_of_work(request) as session:
        region_name = regions.get_region(session, account.user.region).name
    values = {"region_name": region_name, "idle_minutes": hub.settings.session_idle_minutes}
    return render(request, Page("account.html", "account.title", values), account=account)

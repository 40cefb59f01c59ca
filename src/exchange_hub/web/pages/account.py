"""我的账号: who is signed in, with which scope and grant, the sign-in before this one
(time and address), and the password change form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from exchange_hub.deps import Hub
from exchange_hub.errors import NotFound
from exchange_hub.models import ConsoleUser
from exchange_hub.regions import service as regions
from exchange_hub.web import auth
from exchange_hub.web.render import Page, render
from exchange_hub.web.session import Account, CheckedForm, ConsoleRoute, client_of, unit_of_work

router = APIRouter(route_class=ConsoleRoute)
FIELD_LIMIT = 1024


def _account_values(
    request: Request, hub: Hub, account: auth.ActiveSession
) -> tuple[ConsoleUser, dict[str, Any]]:
    """The account as stored now (the session's copy predates a password change)."""
    with unit_of_work(request) as session:
        user = session.get(ConsoleUser, account.user.id) or account.user
        region_name = regions.get_region(session, user.region).name
        session.expunge(user)
    values = {
        "user": user,
        "region_name": region_name,
        "idle_minutes": hub.settings.session_idle_minutes,
        "min_length": auth.MIN_PASSWORD_LENGTH,
        "problem": None,
        "ended": None,
        "method": "oidc" if account.row.oidc_subject else "password",
        "password_form": hub.settings.local_accounts and not user.claims_managed,
    }
    return user, values


@router.get("/account", include_in_schema=False)
def account_page(
    request: Request,
    hub: Hub,
    account: Account,
    ended: Annotated[int | None, Query(ge=0, le=10_000)] = None,
) -> HTMLResponse:
    _user, values = _account_values(request, hub, account)
    values["ended"] = ended
    return render(request, Page("account.html", "account.title", values), account=account)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:FIELD_LIMIT] if isinstance(value, str) else ""


@router.post("/account/password", include_in_schema=False)
def change_password(request: Request, hub: Hub, account: Account, form: CheckedForm) -> Response:
    """A refusal shows the form again (422) naming the field; success ends the other sessions.
    Not for accounts without a password here (made by the claim mapping), nor once local
    accounts are off."""
    if not hub.settings.local_accounts or account.user.claims_managed:
        raise NotFound("this account has no password here", field="path")
    change = auth.PasswordChange(
        current=_field(form, "current_password"),
        new=_field(form, "new_password"),
        repeated=_field(form, "repeat_password"),
    )
    with unit_of_work(request) as session:
        outcome = auth.change_password(session, account, change, client=client_of(request))
    if isinstance(outcome, auth.PasswordRefused) and outcome.reason == "locked":
        # every session of the account ended with the lock, this one too
        return RedirectResponse("/console/sign-in?locked=1", status_code=303)
    if isinstance(outcome, auth.PasswordRefused):
        _user, values = _account_values(request, hub, account)
        values["problem"] = outcome
        page = Page("account.html", "account.title", values, status_code=422)
        return render(request, page, account=account)
    return RedirectResponse(f"/console/account?ended={outcome}", status_code=303)

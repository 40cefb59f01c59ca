"""The admin console (管理控制台): server-rendered pages under ``/console``.

This module holds signing in and out, the language switch, the static files
and the landing page; each group of pages lives in ``web/pages/`` and calls
the service functions of its domain, never the HTTP API.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from exchange_hub.deps import hub_context
from exchange_hub.errors import NotFound
from exchange_hub.web import auth, oidc, oidc_routes
from exchange_hub.web.i18n import LANGUAGES
from exchange_hub.web.navigation import home_of
from exchange_hub.web.pages import ROUTERS as PAGE_ROUTERS
from exchange_hub.web.render import LANG_COOKIE, assets
from exchange_hub.web.session import (
    SESSION_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    Account,
    CheckedForm,
    ConsoleRoute,
    CsrfRefused,
    clear_cookie,
    client_of,
    safe_next,
    set_cookie,
    unit_of_work,
)
from exchange_hub.web.sign_in_page import sign_in_page
from exchange_hub.web.static_files import static_response

router = APIRouter(prefix="/console", tags=["console"], route_class=ConsoleRoute)
STATIC_MAX_AGE = 86_400


@router.get("/static/{name}", include_in_schema=False)
def static_file(request: Request, name: str) -> Response:
    """Our CSS and JS, and the chart library shipped inside the plotly package (gzipped
    for a client that accepts it: ``static_files``)."""
    path = assets().get(name)
    if path is None:
        raise NotFound(f"no static file {name}", field="name")
    return static_response(request, path, max_age=STATIC_MAX_AGE)


@router.get("", include_in_schema=False)
def console_home(account: Account) -> RedirectResponse:
    return RedirectResponse(home_of(account.user.role), status_code=303)


@router.get("/language/{code}", include_in_schema=False)
def switch_language(request: Request, code: str, next: str = "/console") -> RedirectResponse:
    if code not in LANGUAGES:
        raise NotFound(f"no language {code}", field="code")
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, LANG_COOKIE, code, max_age=365 * 86_400)
    return response


@router.get("/sign-in", include_in_schema=False)
def sign_in_form(
    request: Request,
    next: str = "/console",
    expired: bool = False,
    signed_out: bool = False,
    locked: bool = False,
) -> Response:
    message = (
        "sign_in.locked" if locked else "sign_in.expired" if expired
        else "sign_in.signed_out" if signed_out else ""
    )  # fmt: skip
    return sign_in_page(request, next=next, message_key=message)


@router.post("/sign-in", include_in_schema=False)
def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console",
) -> Response:
    """Sign-in form: double-submit CSRF (cookie = field), then the password check."""
    if not hub_context(request).settings.local_accounts:
        return sign_in_page(request, next=next, message_key="sign_in.local_off", status=403)
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise CsrfRefused(
            "the sign-in form's token is missing or does not match", field="csrf_token"
        )
    idle = hub_context(request).settings.session_idle_minutes
    with unit_of_work(request) as session:
        auth.purge_idle_sessions(session, idle_minutes=idle)
        outcome = auth.sign_in(
            session, username=username, password=password, client=client_of(request)
        )
    if isinstance(outcome, auth.SignInRefused):
        key = "sign_in.locked" if outcome.reason == "locked" else "sign_in.invalid"
        return sign_in_page(request, next=next, username=username, message_key=key, status=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, outcome.token)
    clear_cookie(request, response, SIGN_IN_CSRF_COOKIE)
    return response


def _end_session(request: Request, account: auth.ActiveSession) -> None:
    with unit_of_work(request) as session:
        auth.sign_out(session, account, client=client_of(request))


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request, account: Account, _form: CheckedForm) -> RedirectResponse:
    """Ends the session; one that came from the identity provider goes on to the provider's
    end-session page (RP-initiated logout), which comes back to the sign-in page."""
    await run_in_threadpool(_end_session, request, account)
    target = "/console/sign-in?signed_out=1"
    client = getattr(request.app.state, "oidc", None)
    if account.row.oidc_subject and client is not None:
        target = await oidc.logout_url(client, request) or target
    response = RedirectResponse(target, status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


for _pages in (*PAGE_ROUTERS, oidc_routes.router):
    router.include_router(_pages)


@router.get("/{unknown:path}", include_in_schema=False)
def unknown_page(unknown: str) -> Response:
    """Any other console address: a 404 page in the console's language, not a JSON problem."""
    raise NotFound(f"no console page /console/{unknown}", field="path")

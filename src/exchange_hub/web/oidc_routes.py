"""Signing in through the identity provider: ``/console/oidc/start`` and its callback.

``start`` sends the browser to the provider with a fresh state, nonce and PKCE
challenge, kept server-side under a cookie of this browser (so a callback
carried to another browser, or replayed, finds nothing); ``callback`` checks
everything (``web/oidc.py``), maps the person (``web/oidc_accounts.py``) and
opens a session like a password sign-in. Each refusal is the sign-in page
with a sentence for the clerk (401, or 403 for a valid but unmapped person)
and a row in the audit trail.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from exchange_hub.db import transaction
from exchange_hub.deps import hub_context
from exchange_hub.errors import NotFound
from exchange_hub.web import auth, oidc, oidc_accounts
from exchange_hub.web.session import (
    SESSION_COOKIE,
    ConsoleRoute,
    clear_cookie,
    client_of,
    safe_next,
    set_cookie,
)
from exchange_hub.web.sign_in_page import sign_in_page

router = APIRouter(prefix="/oidc", route_class=ConsoleRoute)
OIDC_COOKIE = "hub_oidc_sign_in"


def provider(request: Request) -> oidc.ProviderApp:
    client: oidc.ProviderApp | None = getattr(request.app.state, "oidc", None)
    if client is None:
        raise NotFound("sign-in through an identity provider is not configured", field="path")
    return client


def _keep(request: Request, token: str, client_state: dict[str, Any], next_path: str) -> None:
    with transaction(hub_context(request).sessions) as session:
        oidc_accounts.keep_sign_in(session, token, client_state, next_path)


def _audit_refusal(request: Request, reason: str) -> None:
    with transaction(hub_context(request).sessions) as session:
        oidc_accounts.audit_refusal(session, reason, client=client_of(request))


def _refused(request: Request, reason: str, *, status: int = 401, subject: str = "") -> Response:
    response = sign_in_page(
        request, message_key=f"sign_in.oidc.{reason}", status=status, subject=subject
    )
    clear_cookie(request, response, OIDC_COOKIE)
    return response


@router.get("/start", include_in_schema=False)
async def start(
    request: Request, next: Annotated[str, Query(max_length=2000)] = "/console"
) -> Response:
    client = provider(request)
    settings = hub_context(request).settings
    try:
        url, client_state = await oidc.begin(client, request, oidc.callback_url(request, settings))
    except oidc.ProviderRefused as exc:
        await run_in_threadpool(_audit_refusal, request, exc.reason)
        return _refused(request, exc.reason, status=503)
    token = secrets.token_urlsafe(32)
    await run_in_threadpool(_keep, request, token, client_state, safe_next(next))
    response = RedirectResponse(url, status_code=303)
    set_cookie(request, response, OIDC_COOKIE, token)
    return response


def _take(request: Request, token: str) -> tuple[dict[str, Any], str] | None:
    with transaction(hub_context(request).sessions) as session:
        row = oidc_accounts.take_sign_in(session, token)
        return (dict(row.client_state), row.next_path) if row is not None else None


def _sign_in(request: Request, claims: dict[str, Any]) -> auth.SignedIn | oidc_accounts.Unmapped:
    hub = hub_context(request)
    with transaction(hub.sessions) as session:
        return oidc_accounts.sign_in(session, hub.settings, claims, client=client_of(request))


@router.get("/callback", include_in_schema=False)
async def callback(request: Request) -> Response:
    client = provider(request)
    taken = await run_in_threadpool(_take, request, request.cookies.get(OIDC_COOKIE, ""))
    if taken is None:
        await run_in_threadpool(_audit_refusal, request, "state")
        return _refused(request, "state")
    client_state, next_path = taken
    wanted = oidc_accounts.ClaimMapping.from_settings(hub_context(request).settings).wanted
    try:
        claims = await oidc.finish(client, request, client_state, wanted=wanted)
    except oidc.ProviderRefused as exc:
        await run_in_threadpool(_audit_refusal, request, exc.reason)
        return _refused(request, exc.reason)
    outcome = await run_in_threadpool(_sign_in, request, claims)
    if isinstance(outcome, oidc_accounts.Unmapped):
        return _refused(request, outcome.reason, status=403, subject=outcome.subject)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, outcome.token)
    clear_cookie(request, response, OIDC_COOKIE)
    return response

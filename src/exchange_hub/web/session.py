"""The console's request plumbing: the session cookie, the signed-in account, CSRF checks,
and the route class that turns refusals into HTML pages instead of JSON problems.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from exchange_hub import errors
from exchange_hub.audit import service as audit
from exchange_hub.db import transaction
from exchange_hub.deps import hub_context
from exchange_hub.regions import service as regions
from exchange_hub.scope import OutsideScope, RoleRequired
from exchange_hub.web import auth
from exchange_hub.web.i18n import translator
from exchange_hub.web.render import Page, render, request_language

SESSION_COOKIE = "hub_console"
SIGN_IN_CSRF_COOKIE = "hub_sign_in_csrf"
CONSOLE_PATH = "/console"


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page, then back."""

    def __init__(self, expired: bool) -> None:
        super().__init__("sign-in required")
        self.expired = expired


class CsrfRefused(errors.Forbidden):
    slug, title = "csrf", "Form token missing or wrong"


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def safe_next(target: str | None) -> str:
    """Only paths inside the console may be a redirect target (no open redirect)."""
    if target and target.startswith(CONSOLE_PATH) and not target.startswith("//"):
        return target
    return CONSOLE_PATH


def set_cookie(request: Request, response: Response, name: str, value: str, **kw: Any) -> None:
    """Every console cookie is HttpOnly, SameSite=Lax, and Secure (``Settings.cookies_secure``)."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=hub_context(request).settings.cookies_secure,
        path=CONSOLE_PATH,
        **kw,
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=CONSOLE_PATH,
        httponly=True,
        samesite="lax",
        secure=hub_context(request).settings.cookies_secure,
    )


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    """The page's transaction, committed or rolled back before any error page is drawn.

    Console routes own their transaction explicitly (rather than through the
    ``DbSession`` dependency) because their refusals become pages inside the
    route: the work must be rolled back first, and a refusal's audit row must
    not wait behind the page's own write lock.
    """
    with transaction(hub_context(request).sessions) as session:
        session.info["request_id"] = getattr(request.state, "request_id", None)
        yield session


@contextmanager
def read_unit(request: Request) -> Iterator[Session]:
    """A read page's session: the reading engine (``HUB_READ_DATABASE_URL``, a streaming
    replica where there is one; else the primary), one snapshot, never committed. The
    figures it answers say how old that snapshot is (``as_of``, ``db.standby_lag_seconds``);
    anything the page must write (an audit row) goes to the primary on its own."""
    session = hub_context(request).read_sessions()
    session.info["request_id"] = getattr(request.state, "request_id", None)
    try:
        yield session
    finally:
        session.close()  # ends the snapshot; what was read stays readable (not expired)


def console_account(request: Request) -> auth.ActiveSession:
    """The signed-in account, resolved in a short transaction of its own.

    Its own transaction, so the page may read from the read session and an
    expired session row is removed even though the request is redirected.
    """
    token = request.cookies.get(SESSION_COOKIE, "")
    hub = hub_context(request)
    with transaction(hub.sessions) as session:
        active = auth.resolve_session(
            session, token, idle_minutes=hub.settings.session_idle_minutes
        )
    if active is None:
        raise SignInRequired(expired=bool(token))
    request.state.caller = active.caller
    request.state.console_account = active
    return active


Account = Annotated[auth.ActiveSession, Depends(console_account)]


async def checked_form(request: Request, account: Account) -> FormData:
    """The posted form, once its CSRF token matches the session's (else 403)."""
    form = await request.form()
    submitted = form.get("csrf_token")
    if not isinstance(submitted, str) or not auth.csrf_matches(account, submitted):
        raise CsrfRefused("the form's CSRF token is missing or does not match", field="csrf_token")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def _audit_refusal(request: Request, exc: errors.Forbidden) -> None:
    entry = audit.entry_for(
        getattr(request.state, "caller", None),
        "scope.refused",
        outcome="refused",
        client=client_of(request),
        request_id=getattr(request.state, "request_id", None),
        detail={"path": request.url.path, "method": request.method, "reason": exc.detail},
    )
    audit.record_now(hub_context(request).sessions, entry)


def _region_names(request: Request, *codes: str) -> dict[str, str]:
    with hub_context(request).read_sessions() as session:
        return regions.names_of(session, codes)


def _explained(request: Request, exc: errors.HubError) -> dict[str, Any]:
    """The refusal in the page's language: a heading and a sentence for the clerk, the
    problem's own (English) detail kept only as collapsed technical information."""
    t = translator(request_language(request))
    heading, message = t(f"error.status.{exc.status}"), ""
    if isinstance(exc, CsrfRefused):
        heading, message = t("error.csrf.title"), t("error.csrf.detail")
    elif isinstance(exc, RoleRequired):
        roles = f" {t('error.or')} ".join(t(f"role.{r}") for r in exc.roles)
        message = t("error.role_required", roles=roles, role=t(f"role.{exc.actual}"))
    elif isinstance(exc, OutsideScope):
        names = _region_names(request, exc.code, exc.scope)
        message = t(
            "error.outside_scope",
            region=names.get(exc.code, exc.code),
            scope=names.get(exc.scope, exc.scope),
        )
    elif isinstance(exc, errors.NotFound):
        message = t("error.not_found")
    elif exc.field:
        label = t(f"field.{exc.field}")
        message = t("error.check_field", field=exc.field if label.startswith("field.") else label)
    reload_to = ""
    if isinstance(exc, CsrfRefused):
        came_from = urlsplit(request.headers.get("referer", ""))
        reload_to = safe_next(came_from.path + (f"?{came_from.query}" if came_from.query else ""))
    return {"heading": heading, "message": message, "reload_to": reload_to}


async def error_page(request: Request, exc: errors.HubError) -> Response:
    """A refusal as a console page with the problem's status; a 403 is audited (SPEC §6)."""
    if isinstance(exc, errors.Forbidden):
        await run_in_threadpool(_audit_refusal, request, exc)
    explained = await run_in_threadpool(_explained, request, exc)
    page = Page(
        "error.html",
        "error.title",
        {"problem": exc.to_problem(request.url.path), "explained": explained},
        status_code=exc.status,
    )
    return render(request, page, account=getattr(request.state, "console_account", None))


def _sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    target = quote(
        safe_next(request.url.path + ("?" + request.url.query if request.url.query else ""))
    )
    suffix = "&expired=1" if exc.expired else ""
    response = RedirectResponse(f"{CONSOLE_PATH}/sign-in?next={target}{suffix}", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


class ConsoleRoute(APIRoute):
    """Console routes answer people: refusals become pages, a missing session a redirect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return _sign_in_redirect(request, exc)
            except RequestValidationError as exc:
                return await error_page(request, errors.validation_error(exc))
            except errors.HubError as exc:
                return await error_page(request, exc)

        return console_handler

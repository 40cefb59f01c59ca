"""The FastAPI application: ``create_app(settings)`` builds everything in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from exchange_hub import deps, errors
from exchange_hub.audit import service as audit
from exchange_hub.audit.router import router as audit_router
from exchange_hub.bulletin.router import router as bulletin_router
from exchange_hub.config import Settings
from exchange_hub.context import HubContext, build_context
from exchange_hub.deps import authenticate_key
from exchange_hub.exchange.router import router as exchange_router
from exchange_hub.health import router as health_router
from exchange_hub.holidays.router import router as holidays_router
from exchange_hub.logging_setup import configure_logging
from exchange_hub.members.router import router as members_router
from exchange_hub.metrics.router import router as metrics_router
from exchange_hub.middleware import BodyPolicy, HubMiddleware
from exchange_hub.observability import HttpMetrics
from exchange_hub.observability import router as observability_router
from exchange_hub.params import page_maximum
from exchange_hub.ratelimits import build_limiters
from exchange_hub.records import checking
from exchange_hub.records import service as records
from exchange_hub.records.router import router as records_router
from exchange_hub.regions.router import router as regions_router
from exchange_hub.reports.router import router as reports_router
from exchange_hub.scorecard.router import router as scorecard_router
from exchange_hub.web import oidc
from exchange_hub.web.api_docs import router as docs_router
from exchange_hub.web.router import router as web_router

ROUTERS = (
    health_router,
    observability_router,
    regions_router,
    members_router,
    audit_router,
    records_router,
    exchange_router,
    metrics_router,
    bulletin_router,
    reports_router,
    scorecard_router,
    holidays_router,
    web_router,
    docs_router,
)

STREAMING_PATHS = frozenset({"/api/v1/records/batch"})  # their routes spool the body to disk


def create_app(settings: Settings | None = None, context: HubContext | None = None) -> FastAPI:
    settings = settings or (context.settings if context else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_json)
        hub = context or build_context(settings, people=records)
        app.state.hub = hub
        app.state.oidc = oidc.build_client(hub.settings)
        limiters = build_limiters(hub.settings, hub.engine, app.state.http_metrics.count_fallback)
        app.state.rate_limiter = limiters.requests
        app.state.failed_auth_limiter = limiters.failed_auth
        # The batch-checking processes start now, beside the server, not on the first batch.
        checking.warm(checking.worker_count(hub.settings.ingest_workers))
        try:
            yield
        finally:
            limiters.close()
            if context is None:
                hub.dispose()

    app = FastAPI(
        title="exchange-hub",
        version="1.0.0",
        summary="Floating-population data exchange between county population offices",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN; an intranet
        # hub serves nothing from outside: its own /docs (web/api_docs.py) serves a
        # packaged Swagger UI behind the console's Content-Security-Policy.
        docs_url=None,
        redoc_url=None,
    )
    errors.install_handlers(app)
    _install_refusal_audit(app)

    app.add_middleware(
        HubMiddleware, policy=BodyPolicy(settings, authenticate_key, STREAMING_PATHS)
    )
    app.state.http_metrics = HttpMetrics()
    for router in ROUTERS:
        declare_problems(router)
        app.include_router(router)
    _answer_methods(app)
    _document_contract(app, settings)
    return app


# -- the contract: every refusal documented, every method named -------------------------------
AUTHENTICATION = (deps.current_caller, deps.streaming_caller)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def declare_problems(router: APIRouter) -> None:
    """Declare on each documented operation of ``router`` the refusals of its kind
    (``errors.problem_responses``); what a route declares itself wins."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            route.responses = {**errors.problem_responses(route_kind(route)), **route.responses}


def route_kind(route: APIRoute) -> str:
    if not _calls(route.dependant, AUTHENTICATION):
        return "public"
    if (route.methods or set()) <= {"GET", "HEAD"}:
        return "read"
    has_body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    return "write with body" if has_body else "write"


def _calls(dependant: Dependant, calls: tuple[Any, ...]) -> bool:
    return dependant.call in calls or any(_calls(d, calls) for d in dependant.dependencies)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on the request's path (RFC 9110 §10.2.1),
    not only those of the first route that matched the path, as Starlette says."""
    routes = request.app.router.routes
    found = [
        method
        for method in METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return [*found, "OPTIONS"] if found else []


def _answer_methods(app: FastAPI) -> None:
    """``OPTIONS`` (RFC 9110 §9.3.7) and 405 (§15.5.6) name every method of the path."""

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
        allowed = allowed_methods(request)
        if not allowed:  # only the OPTIONS route below matched: there is nothing here
            error: errors.HubError = errors.NotFound("Not Found")
        else:
            error = errors.MethodNotAllowed(
                f"{request.method} is not a method of {request.url.path}; "
                f"it answers {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return errors.problem_response(error, request)

    @app.options("/{path:path}", include_in_schema=False, status_code=204)
    def _options(request: Request) -> Response:
        allowed = allowed_methods(request)
        if not allowed:
            raise errors.NotFound(f"no resource at {request.url.path}", field="path")
        return Response(status_code=204, headers={"Allow": ", ".join(allowed)})


def _document_contract(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = errors.document_problems(FastAPI.openapi(app))
            document_authentication(document)
            document_page_limits(document, settings)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "the member's API key; members that registered an Ed25519 key also sign "
    "(X-Hub-Timestamp, X-Hub-Signature: see docs/SECURITY.md)",
}


def document_authentication(document: dict[str, Any]) -> None:
    """Operations behind authentication (those that answer 401) name the bearer scheme."""
    document["components"].setdefault("securitySchemes", {})["bearer"] = BEARER
    for methods in document["paths"].values():
        for operation in methods.values():
            if "401" in operation["responses"]:
                operation["security"] = [{"bearer": []}]


PAGE_SIZE_PLACEHOLDER = 1_000_000_000  # deps.page_size: refused beyond HUB_MAX_PAGE_SIZE


def document_page_limits(document: dict[str, Any], settings: Settings) -> None:
    """A ``limit`` bounded by ``HUB_MAX_PAGE_SIZE`` (``params.page_maximum``) says so; the
    route declares it without a maximum (or the page-size placeholder), since the
    maximum is a setting. The change feed marks its own (``x-page: feed``)."""
    for methods in document["paths"].values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if parameter["name"] != "limit" or parameter["in"] != "query":
                    continue
                feed = schema.pop("x-page", None) == "feed"
                if schema.get("maximum", PAGE_SIZE_PLACEHOLDER) >= PAGE_SIZE_PLACEHOLDER:
                    schema["maximum"] = page_maximum(settings, feed=feed)


def _install_refusal_audit(app: FastAPI) -> None:
    """A 403 is both answered and written to the audit trail (SPEC §6)."""

    @app.exception_handler(errors.Forbidden)
    async def _forbidden(request: Request, exc: errors.Forbidden) -> JSONResponse:
        hub: HubContext = request.app.state.hub
        entry = audit.entry_for(
            getattr(request.state, "caller", None),
            "scope.refused",
            outcome="refused",
            client=request.client.host if request.client else None,
            request_id=getattr(request.state, "request_id", None),
            detail={"path": request.url.path, "method": request.method, "reason": exc.detail},
        )
        await run_in_threadpool(audit.record_now, hub.sessions, entry)
        return errors.problem_response(exc, request)

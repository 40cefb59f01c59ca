"""The hub's error tree and its translation into RFC 9457 problem documents.

    HubError                      (500, never raised for bad input)
    ├── BadRequest                400
    │   └── InvalidInput          422  one field at fault
    │       └── RoutingError      422  no current county to route to
    ├── Unauthenticated           401  missing, unknown or revoked key; bad signature
    ├── Forbidden                 403  outside the caller's scope (audited)
    ├── NotFound                  404  missing, or not visible to the caller
    ├── MethodNotAllowed          405  carries Allow: every method of the path
    ├── Conflict                  409  second feedback, illegal transition, key in flight
    ├── PayloadTooLarge           413
    ├── UnsupportedMediaType      415
    ├── TooManyRequests           429  carries Retry-After
    └── Unavailable               503  database unreachable

Every handler below answers ``application/problem+json``; nothing else in the
code builds error responses. The OpenAPI document declares them too, per kind
of operation (``problem_responses``), so clients generated from it know every
refusal (OWASP API9).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:  # the web and database layers are imported where they are used, so
    # that the batch-checking processes, which raise these errors, do not load them
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

log = logging.getLogger("exchange_hub.errors")

PROBLEM_BASE = "https://exchange-hub.invalid/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class HubError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra or {}
        self.headers = headers or {}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(HubError):
    status, slug, title = 400, "bad-request", "Bad request"


class InvalidInput(BadRequest):
    status, slug, title = 422, "invalid-input", "Invalid input"


class RoutingError(InvalidInput):
    slug, title = "unroutable", "Cannot route to a county"


class Unauthenticated(HubError):
    status, slug, title = 401, "unauthenticated", "Authentication required"


class Forbidden(HubError):
    status, slug, title = 403, "forbidden", "Outside your scope"


class NotFound(HubError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(HubError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(HubError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(HubError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(HubError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class TooManyRequests(HubError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class Unavailable(HubError):
    status, slug, title = 503, "unavailable", "Service temporarily unavailable"


def problem_response(error: HubError, request: Request | None = None) -> JSONResponse:
    from fastapi.responses import JSONResponse

    instance = request.url.path if request is not None else None
    headers = dict(error.headers)
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    if request_id:
        headers["X-Request-Id"] = request_id
    return JSONResponse(
        error.to_problem(instance),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _validation_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_error(exc: RequestValidationError) -> InvalidInput:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _validation_field(tuple(first.get("loc", ())))
    detail = f"{field}: {first.get('msg', 'invalid')}"
    if first.get("type") == "json_invalid":
        detail = "the body is not valid JSON"
        field = "body"
    listed = [
        {"field": _validation_field(tuple(e.get("loc", ()))), "detail": e.get("msg", "")}
        for e in errors[:20]
    ]
    return InvalidInput(detail, field=field, extra={"errors": listed})


_HTTP_ERRORS: dict[int, type[HubError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: TooManyRequests,
}


def install_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from sqlalchemy.exc import (
        DataError,
        IntegrityError,
        InterfaceError,
        OperationalError,
        PendingRollbackError,
    )
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(HubError)
    async def _hub(request: Request, exc: HubError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_error(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _HTTP_ERRORS.get(exc.status_code)
        error: HubError
        if cls is None:
            error = BadRequest(str(exc.detail))
            error.status, error.title = exc.status_code, "HTTP error"
        else:
            error = cls(str(exc.detail))
        error.headers = dict(exc.headers or {})
        return problem_response(error, request)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
        # A value the database cannot hold (a number beyond 64 bits, say) that got
        # past validation: still the client's input, so a 422 and never a 500.
        log.warning("unstorable input: %s", exc.__class__.__name__)
        field = "query" if request.url.query else "body"
        error = InvalidInput("a value is out of the range the hub can store", field=field)
        return problem_response(error, request)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Two writers raced for the same unique row; the loser may retry.
        log.warning("integrity conflict: %s", exc.orig.__class__.__name__)
        return problem_response(Conflict("a concurrent request changed the same data"), request)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PendingRollbackError)  # a statement after the connection broke
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # A lost or restarting database is a 503 the client may retry, not a 500.
        if "database is locked" in str(getattr(exc, "orig", "")):
            # SQLite's one writer lock, still held after the busy timeout (a long batch).
            log.warning("database busy: the write lock was not free in time")
            error = Unavailable(
                "the database is busy with another write (a batch, say); retry in a minute"
            )
            error.headers = {"Retry-After": "60"}
            return problem_response(error, request)
        log.warning("database unavailable: %s", exc.__class__.__name__)
        error = Unavailable("the database is not reachable; retry later")
        error.headers = {"Retry-After": "5"}
        return problem_response(error, request)


class ProblemField(BaseModel):
    field: str
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem document, as every refusal of the hub is answered."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    instance: str | None = None
    errors: list[ProblemField] | None = None


PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_DESCRIPTIONS = {
    400: "Malformed request: a body that cannot be parsed (JSON nested too deep, say)",
    401: "Missing, unknown or revoked API key; bad or replayed signature",
    403: "Outside the caller's scope (the attempt is audited)",
    404: "Not found, or not visible to the caller",
    409: "Conflict: a state the change no longer applies to (a withdrawn or answered "
    "message, a deregistered record), an Idempotency-Key in flight or reused with "
    "another body, a county's batch running, or a concurrent write",
    413: "Request body too large",
    415: "Unsupported Content-Type or charset of the body",
    422: "Invalid input; `field` names the offending field",
    429: "Rate limit exceeded; see Retry-After",
    503: "Database unavailable or busy; retry after Retry-After",
}
# The refusals each kind of operation can give. Every path: the middleware's body
# limit (413) and its refusal of NUL in the query (422). Behind authentication:
# everything a caller, its scope, its rate or the database can cause. Writes add
# conflicts; writes with a body, its media type.
PUBLIC_PROBLEMS = (413, 422)
READ_PROBLEMS = (400, 401, 403, 404, 413, 422, 429, 503)
WRITE_PROBLEMS = (*READ_PROBLEMS, 409)
BODY_PROBLEMS = (*WRITE_PROBLEMS, 415)
PROBLEMS_OF_KIND = {
    "public": PUBLIC_PROBLEMS,
    "read": READ_PROBLEMS,
    "write": WRITE_PROBLEMS,
    "write with body": BODY_PROBLEMS,
}


def problem_responses(kind: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of the refusals an operation of ``kind`` can give."""
    return {
        status: {"description": PROBLEM_DESCRIPTIONS[status], "content": PROBLEM_CONTENT}
        for status in sorted(PROBLEMS_OF_KIND[kind])
    }


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Publish the Problem schema the declared refusals point at, in place of FastAPI's own."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["ProblemField"] = schemas["Problem"].pop("$defs", {}).get("ProblemField", {})
    return openapi

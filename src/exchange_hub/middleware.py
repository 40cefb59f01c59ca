"""ASGI middleware: request ids, the access log, security headers, and the gate every
request body passes.

A body is read only once its sender is known (issue 15 #3). On the API the
caller is authenticated from the headers (the API key) before the first byte
of a body is read: a body without a valid key gets its 401 unread, and the
connection is closed rather than drained. A body is then held to its path's
limit while it streams in — 413 as soon as the limit is passed, whatever
Content-Length said, chunked or not:

- single-object endpoints take small JSON bodies (``HUB_MAX_BODY_BYTES``), read
  here and checked before the application parses them;
- streaming uploads (the batch endpoint, ``HUB_MAX_BATCH_BYTES``) are not read
  here: their route spools them to disk, hashing on the way.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange_hub import jsonbody
from exchange_hub.config import Settings
from exchange_hub.errors import InvalidInput, PayloadTooLarge
from exchange_hub.logging_setup import request_id_var

log = logging.getLogger("exchange_hub.access")

API_PREFIX = "/api/"
# On every answer (issue 15 #11): no MIME sniffing, and none of the browser features
# the console does not use. HSTS only over TLS: a request whose scheme is https, which
# under ``exchange-hub serve`` includes one from a trusted proxy (uvicorn's proxy headers,
# FORWARDED_ALLOW_IPS, 127.0.0.1 by default) that says X-Forwarded-Proto: https.
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), "
    "fullscreen=(), geolocation=(), gyroscope=(), hid=(), idle-detection=(), magnetometer=(), "
    "microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), "
    "screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"permissions-policy", PERMISSIONS_POLICY.encode()),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")


class BodyTooLarge(PayloadTooLarge, HTTPException):
    """A body past its path's limit.

    Also Starlette's ``HTTPException``: FastAPI lets those out of its body
    parsing (any other error there becomes a 400), so the hub's own handler
    answers it with a 413 problem document wherever the body is read.
    """

    headers: dict[str, str]  # HubError's: set by its __init__, never None

    def __init__(self, limit: int) -> None:
        PayloadTooLarge.__init__(self, f"the body exceeds the limit of {limit} bytes", field="body")
        self.status_code = self.status


@dataclass(frozen=True)
class BodyPolicy:
    """Who may send a body, and how large, per path."""

    settings: Settings
    authenticate: Callable[[Request], Awaitable[object]]
    """Checks the caller from the headers alone; raises (401, 429) for a refused one."""
    streaming_paths: frozenset[str]

    def limit_for(self, path: str) -> int:
        if path in self.streaming_paths:
            return self.settings.max_batch_bytes
        return self.settings.max_body_bytes


def nul_in_query(query_string: bytes) -> str | None:
    """The first query parameter whose name or value holds a NUL character."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


def nul_path(document: Any) -> str | None:
    """Where in a parsed JSON document a string (or key) holds a NUL character, as
    ``a.b.0.c``: the first in document order, walked without recursion."""
    pending: list[tuple[str, Any, str]] = [("", document, "")]
    while pending:
        path, value, key = pending.pop()
        if "\x00" in key:
            return path
        if isinstance(value, str):
            if "\x00" in value:
                return path or "body"
            continue
        items = (
            value.items()
            if isinstance(value, dict)
            else enumerate(value)
            if isinstance(value, list)
            else ()
        )
        children = [(f"{path}.{k}" if path else str(k), v, str(k)) for k, v in items]
        pending.extend(reversed(children))
    return None


def check_json_body(body: bytes) -> None:
    """Refuse a JSON body nested too deep (400), or holding a NUL character (422).

    PostgreSQL cannot store NUL in text and no field of the hub needs it, so
    such a body is refused as a whole, naming the field. A body that is not
    JSON is refused the way the application would (422).
    """
    jsonbody.check_depth(body)
    field = None
    if b"\x00" in body:
        field = "body"
    elif b"\\u0000" in body:
        field = nul_path(jsonbody.loads(body))
    if field is not None:
        raise InvalidInput("text may not contain NUL (U+0000) characters", field=field)


def is_json(content_type: str) -> bool:
    """The media types FastAPI parses as JSON: application/json and application/*+json."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class _Body:
    """One request's body at the gate: declared or not, how much came, whether all of it."""

    def __init__(self, headers: Headers, limit: int) -> None:
        declared = headers.get("content-length", "")
        self.length = int(declared) if declared.isdigit() else None
        self.declared = bool(self.length) or "transfer-encoding" in headers
        self.limit = limit
        self.seen = 0
        self.finished = not self.declared

    def counting(self, receive: Receive) -> Receive:
        """``receive`` that counts the body as it streams in (413 past the limit)."""

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not self.finished:
                self.seen += len(message.get("body", b""))
                if self.seen > self.limit:
                    raise BodyTooLarge(self.limit)
                self.finished = not message.get("more_body", False)
            return message

        return counted

    async def read(self, receive: Receive) -> Receive:
        """Read the whole (bounded) body; a ``receive`` that hands it to the application."""
        chunks: list[bytes] = []
        counted = self.counting(receive)
        while not self.finished:
            message = await counted()
            if message["type"] != "http.request":
                break  # the client went away
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
        check_json_body(body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


class HubMiddleware:
    """Gives each request an id, logs it, and lets bodies in as ``BodyPolicy`` says."""

    def __init__(self, app: ASGIApp, policy: BodyPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id", "")[:64]
        request_id = incoming if incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        body = _Body(headers, self.policy.limit_for(scope["path"]))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                extra = _answer_headers(scope, request_id, body)
                message["headers"] = _with_headers(message.get("headers", []), extra)
            await send(message)

        try:
            try:
                receive = await self._admit(scope, receive, headers, body)
            except Exception as exc:
                if not await _answer_with_handler(scope, receive, send_with_id, exc):
                    raise
                return
            await self.app(scope, body.counting(receive), send_with_id)
        finally:
            request_id_var.reset(token)
            self._observe(scope, status_holder["status"], time.perf_counter() - started)
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status_holder["status"],
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    async def _admit(
        self, scope: Scope, receive: Receive, headers: Headers, body: _Body
    ) -> Receive:
        """What the request must pass before the application sees it, cheapest first;
        returns the ``receive`` the application reads the body from."""
        if (field := nul_in_query(scope.get("query_string", b""))) is not None:
            raise InvalidInput("text may not contain NUL (U+0000) characters", field=field)
        if not body.declared:
            return receive
        if scope["path"].startswith(API_PREFIX):
            await self.policy.authenticate(Request(scope, receive))
        if body.length is not None and body.length > body.limit:
            raise BodyTooLarge(body.limit)
        if scope["path"] in self.policy.streaming_paths or not is_json(
            headers.get("content-type", "")
        ):
            return receive
        return await body.read(receive)

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        app = scope.get("app")
        metrics = getattr(getattr(app, "state", None), "http_metrics", None)
        if metrics is None:
            return
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics.observe(scope["method"], template, status, seconds)


def _answer_headers(scope: Scope, request_id: str, body: _Body) -> list[tuple[bytes, bytes]]:
    """What every answer carries: its request id, the security headers, HSTS over TLS, and
    ``Connection: close`` when it is sent before the body came (the body is not drained)."""
    extra = [(b"x-request-id", request_id.encode()), *SECURITY_HEADERS]
    if scope.get("scheme") == "https":
        extra.append(HSTS)
    if not body.finished:
        extra.append((b"connection", b"close"))
    return extra


def _with_headers(
    headers: list[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """``headers`` plus each of ``extra`` whose name is not there yet."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *((name, value) for name, value in extra if name not in present)]


async def _answer_with_handler(scope: Scope, receive: Receive, send: Send, exc: Exception) -> bool:
    """Answer an error raised before the application ran with the application's own
    handler for it (a problem document, a lost database's 503); False if it has none.
    The hub's handlers are all coroutines (``errors.install_handlers``)."""
    handlers: dict[Any, Callable[..., Any]] = getattr(scope.get("app"), "exception_handlers", {})
    handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
    if handler is None:
        return False
    response = await handler(Request(scope, receive), exc)
    await response(scope, receive, send)
    return True

"""ASGI middleware: request ids, access log, and the body size limit (413)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange_hub.errors import InvalidInput, PayloadTooLarge, problem_response
from exchange_hub.logging_setup import request_id_var

log = logging.getLogger("exchange_hub.access")


class _TooLarge(Exception):
    pass


def nul_in_query(query_string: bytes) -> str | None:
    """The first query parameter whose name or value holds a NUL character."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


def nul_path(document: Any, path: str = "") -> str | None:
    """Where in a JSON document a string (or key) holds a NUL character, as ``a.b.0.c``."""
    if isinstance(document, str):
        return path or "body" if "\x00" in document else None
    items = (
        document.items()
        if isinstance(document, dict)
        else enumerate(document)
        if isinstance(document, list)
        else ()
    )
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if "\x00" in str(key):
            return where
        if (found := nul_path(value, where)) is not None:
            return found
    return None


async def _json_without_nul(receive: Receive, limit: int) -> tuple[Receive, str | None]:
    """Read a JSON body (bounded by ``limit``) and find any NUL character in its text.

    PostgreSQL cannot store NUL in text and no field of the hub needs it, so
    such a body is refused as a whole, naming the field. The body is replayed
    to the application unchanged otherwise.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            raise _TooLarge
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    field = None
    if b"\x00" in body:
        field = "body"
    elif b"\\u0000" in body:
        try:
            field = nul_path(json.loads(body))
        except ValueError:
            field = None  # not JSON: the application answers that
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay, field


async def _refuse_nul(scope: Scope, receive: Receive, send: Send, field: str) -> None:
    error = InvalidInput("text may not contain NUL (U+0000) characters", field=field)
    await problem_response(error)(scope, receive, send)


class HubMiddleware:
    """Gives each request an id, logs it, and refuses bodies over the limit.

    ``limit_for(path)`` returns the byte limit for a path (batch uploads are
    allowed more). Content-Length is checked up front; chunked bodies are
    counted as they stream.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming if incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        limit = self.limit_for(scope["path"])

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await self._too_large(scope, receive, send_with_id, limit)
                return
            if (field := nul_in_query(scope.get("query_string", b""))) is not None:
                await _refuse_nul(scope, receive, send_with_id, field)
                return
            if headers.get(b"content-type", b"").startswith(b"application/json"):
                receive, field = await _json_without_nul(receive, limit)
                if field is not None:
                    await _refuse_nul(scope, receive, send_with_id, field)
                    return
            await self.app(scope, self._counting(receive, limit), send_with_id)
        except _TooLarge:
            await self._too_large(scope, receive, send_with_id, limit)
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

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        app = scope.get("app")
        metrics = getattr(getattr(app, "state", None), "http_metrics", None)
        if metrics is None:
            return
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics.observe(scope["method"], template, status, seconds)

    @staticmethod
    def _counting(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        return wrapped

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        error = PayloadTooLarge(f"the body exceeds the limit of {limit} bytes", field="body")
        response = problem_response(error)
        response.headers["connection"] = "close"
        await response(scope, receive, send)

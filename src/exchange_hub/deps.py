"""Request dependencies: the session that owns the transaction, and the caller.

Signed requests (SPEC §7): a member that registered an Ed25519 public key must
send ``X-Hub-Timestamp`` (Unix seconds) and ``X-Hub-Signature`` (base64 of the
signature) over::

    METHOD \\n PATH?QUERY \\n TIMESTAMP \\n sha256-hex(BODY)

Timestamps outside the window and signatures already seen are refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from exchange_hub import clock, crypto
from exchange_hub.audit import service as audit
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import InvalidInput, Unauthenticated
from exchange_hub.members import service as members
from exchange_hub.members.scope import Caller
from exchange_hub.models import SeenSignature


def hub_context(request: Request) -> HubContext:
    return request.app.state.hub  # type: ignore[no-any-return]


Hub = Annotated[HubContext, Depends(hub_context)]


def _session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, or rolled back."""
    with transaction(hub_context(request).sessions) as session:
        session.info["request_id"] = getattr(request.state, "request_id", None)
        yield session


def _read_session(request: Request) -> Iterator[Session]:
    session = hub_context(request).read_sessions()
    try:
        yield session
        session.rollback()
    finally:
        session.close()


DbSession = Annotated[Session, Depends(_session, scope="function")]
ReadSession = Annotated[Session, Depends(_read_session, scope="function")]


def signing_string(method: str, path_qs: str, timestamp: str, body_digest: str) -> bytes:
    return f"{method.upper()}\n{path_qs}\n{timestamp}\n{body_digest}".encode()


def _path_qs(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _lookup(hub: HubContext, api_key: str) -> tuple[Caller, str | None] | None:
    with hub.sessions() as session:
        member = members.find_by_api_key(session, api_key)
        if member is None or not member.active:
            return None
        return members.caller_of(member), member.public_key


def _remember_signature(hub: HubContext, signature: str) -> bool:
    """True when the signature is new; False when it was seen (a replay)."""
    digest = hashlib.sha256(signature.encode()).hexdigest()
    try:
        with hub.sessions() as session, session.begin():
            session.add(SeenSignature(digest=digest, seen_at=clock.now()))
    except IntegrityError:
        return False
    return True


def _refuse(request: Request, reason: str, caller: Caller | None = None) -> Unauthenticated:
    hub = hub_context(request)
    entry = audit.entry_for(
        caller,
        "auth.refused",
        outcome="refused",
        client=_client(request),
        request_id=getattr(request.state, "request_id", None),
        detail={"reason": reason, "path": request.url.path},
    )
    audit.record_now(hub.sessions, entry)
    return Unauthenticated(reason, field="Authorization", headers={"WWW-Authenticate": "Bearer"})


async def _verify_signature(
    request: Request, caller: Caller, public_key: str, body_digest: str | None
) -> None:
    hub = hub_context(request)
    timestamp = request.headers.get("x-hub-timestamp", "")
    signature = request.headers.get("x-hub-signature", "")
    if not timestamp or not signature:
        raise await run_in_threadpool(_refuse, request, "this member must sign requests", caller)
    try:
        skew = abs(clock.unix_seconds() - int(timestamp))
    except ValueError:
        skew = float("inf")
    if skew > hub.settings.signature_window_seconds:
        raise await run_in_threadpool(
            _refuse, request, "signature timestamp outside the window", caller
        )
    if body_digest is None:
        body_digest = hashlib.sha256(await request.body()).hexdigest()
    payload = signing_string(request.method, _path_qs(request), timestamp, body_digest)
    if not crypto.verify_ed25519(public_key, payload, signature):
        raise await run_in_threadpool(_refuse, request, "signature does not verify", caller)
    if not await run_in_threadpool(_remember_signature, hub, signature):
        raise await run_in_threadpool(_refuse, request, "signature replayed", caller)


async def authenticate_key(request: Request) -> tuple[Caller, str | None]:
    """The active member whose API key the request carries, and its public key if it signs.

    Headers only, and once per request: the middleware asks before it reads a
    request's body (no body is read from an unknown sender, issue 15 #3), and
    ``authenticate`` then finds the answer on the request.
    """
    known: tuple[Caller, str | None] | None = getattr(request.state, "key_holder", None)
    if known is not None:
        return known
    header = request.headers.get("authorization", "")
    scheme, _, api_key = header.partition(" ")
    if scheme.lower() != "bearer" or not api_key.strip():
        raise await run_in_threadpool(_refuse, request, "missing or malformed bearer API key")
    found = await run_in_threadpool(_lookup, hub_context(request), api_key.strip())
    if found is None:
        raise await run_in_threadpool(_refuse, request, "unknown or revoked API key")
    caller = found[0]
    request.state.caller = caller
    request.app.state.rate_limiter.check(str(caller.member_id))
    request.state.key_holder = found
    return found


async def authenticate(request: Request, *, defer_body: bool = False) -> Caller:
    """Check the API key and, for members that sign, the signature.

    With ``defer_body`` (streamed uploads) the signature is checked later by
    ``verify_deferred_signature`` once the body has been spooled and hashed.
    """
    caller, public_key = await authenticate_key(request)
    if public_key and defer_body:
        request.state.pending_signature = public_key
    elif public_key:
        await _verify_signature(request, caller, public_key, None)
    return caller


async def verify_deferred_signature(request: Request, caller: Caller, body_digest: str) -> None:
    public_key = getattr(request.state, "pending_signature", None)
    if public_key:
        await _verify_signature(request, caller, public_key, body_digest)


async def streaming_caller(request: Request) -> Caller:
    return await authenticate(request, defer_body=True)


async def current_caller(request: Request) -> Caller:
    return await authenticate(request)


CurrentCaller = Annotated[Caller, Depends(current_caller)]
StreamingCaller = Annotated[Caller, Depends(streaming_caller)]


def page_size(
    request: Request, limit: int = Query(100, ge=1, le=1_000_000_000, description="page size")
) -> int:
    """The ``limit`` of a list, refused (not silently capped) beyond ``HUB_MAX_PAGE_SIZE``."""
    maximum = hub_context(request).settings.max_page_size
    if limit > maximum:
        raise InvalidInput(f"limit may be at most {maximum}", field="limit")
    return limit


PageSize = Annotated[int, Depends(page_size)]

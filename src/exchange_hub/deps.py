"""Request dependencies: the session that owns the transaction, and the caller.

Signed requests (SPEC §7): a member that registered an Ed25519 or SM2 public key
must send ``X-Hub-Timestamp`` (Unix seconds in decimal digits) and
``X-Hub-Signature`` (the signature in unpadded base64url, RFC 4648 §5: Ed25519's
64 bytes, or SM2's canonical DER of ``(r, s)`` — its one accepted spelling,
``crypto.decode_signature``) over::

    METHOD \\n PATH?QUERY \\n TIMESTAMP \\n sha256-hex(BODY)

Timestamps outside the window are refused, and so is a request whose signed
content, from the same member, was accepted before: a replay, however its
signature is spelled and whichever valid signature it carries.

The headers that authenticate may appear once. Failed authentications are
limited per client address (429) and audited once per kind and interval with a
count (``audit.refusals``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from exchange_hub import clock, crypto
from exchange_hub.audit import refusals
from exchange_hub.audit import service as audit
from exchange_hub.context import HubContext
from exchange_hub.crypto import signing_string
from exchange_hub.db import transaction
from exchange_hub.errors import BadRequest, HubError, InvalidInput, TooManyRequests, Unauthenticated
from exchange_hub.members import service as members
from exchange_hub.models import SeenSignature
from exchange_hub.ratelimits import retry_after
from exchange_hub.scope import Caller

AUTHORIZATION, TIMESTAMP, SIGNATURE = "Authorization", "X-Hub-Timestamp", "X-Hub-Signature"
IDEMPOTENCY_KEY = "Idempotency-Key"
_UNIX_SECONDS = re.compile(r"[1-9][0-9]{0,11}")


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


def _path_qs(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


class _Refusal(Exception):
    """A failed authentication: why, and the header at fault (answered by ``_refuse``).

    ``guessed`` is False for a request that presented no credential at all: it
    cannot be a guess at a key, so it does not count toward the per-address limit
    (members behind the same NAT as a crawler keep their 401s, not 429s).
    """

    def __init__(self, reason: str, field: str = AUTHORIZATION, *, guessed: bool = True) -> None:
        super().__init__(reason)
        self.reason, self.field, self.guessed = reason, field, guessed


def _lookup(hub: HubContext, api_key: str) -> tuple[Caller, str | None] | None:
    with hub.sessions() as session:
        member = members.find_by_api_key(session, api_key)
        if member is None or not member.active:
            return None
        return members.caller_of(member), member.public_key


def replay_key(member_id: uuid.UUID, signed: bytes) -> str:
    """A signed request's identity for replay detection: the member and what it signed.

    Not the signature: its text could be spelled otherwise, and schemes with a
    random nonce (SM2, ECDSA) sign the same content differently each time.
    """
    return hashlib.sha256(f"{member_id}\n".encode() + signed).hexdigest()


def _remember(hub: HubContext, key: str) -> bool:
    """True when the signed request is new; False when it was seen (a replay)."""
    try:
        with hub.sessions() as session, session.begin():
            session.add(SeenSignature(digest=key, seen_at=clock.now()))
    except IntegrityError:
        return False
    return True


def _refuse(request: Request, refusal: _Refusal, caller: Caller | None) -> HubError:
    """Count and audit a failed authentication (``audit.refusals``): 401, or 429 once
    the client address is over ``HUB_AUTH_FAILURE_LIMIT``."""
    hub = hub_context(request)
    client = _client(request)
    entry = audit.entry_for(
        caller, "auth.refused", outcome="refused", client=client,
        request_id=getattr(request.state, "request_id", None),
        detail={"reason": refusal.reason, "path": request.url.path},
    )  # fmt: skip
    refusals.record_failure(hub.sessions, entry, hub.settings.auth_failure_interval_seconds)
    wait = None
    if refusal.guessed:
        wait = request.app.state.failed_auth_limiter.failed(client or "unknown")
    if wait is not None:
        detail = f"too many failed authentications from this address (last: {refusal.reason})"
        return TooManyRequests(detail, field=AUTHORIZATION, headers=retry_after(wait))
    return Unauthenticated(refusal.reason, field=refusal.field,
                           headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


def _repeated(request: Request, name: str) -> bool:
    """RFC 9110 §5.3: a field that is not a list is sent once; with two, which one
    counts would depend on the software reading them (issue 15, finding 8)."""
    return len(request.headers.getlist(name)) > 1


def _api_key(request: Request) -> str:
    for name in (AUTHORIZATION, TIMESTAMP, SIGNATURE):
        if _repeated(request, name):
            raise _Refusal(f"{name} appears more than once", name)
    if not request.headers.get(AUTHORIZATION, "").strip():
        raise _Refusal("missing bearer API key", guessed=False)
    scheme, _, api_key = request.headers.get(AUTHORIZATION, "").partition(" ")
    if scheme.lower() != "bearer" or not api_key.strip():
        raise _Refusal("missing or malformed bearer API key")
    return api_key.strip()


def _signed_timestamp(request: Request, window_seconds: int) -> str:
    timestamp = request.headers.get(TIMESTAMP, "")
    if not timestamp or not request.headers.get(SIGNATURE):
        raise _Refusal("this member must sign requests", SIGNATURE if timestamp else TIMESTAMP)
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise _Refusal(f"{TIMESTAMP} must be Unix seconds in decimal digits", TIMESTAMP)
    if abs(clock.unix_seconds() - int(timestamp)) > window_seconds:
        raise _Refusal("signature timestamp outside the window", TIMESTAMP)
    return timestamp


def _signature(request: Request, alg: str) -> str:
    text = request.headers.get(SIGNATURE, "")
    try:
        crypto.decode_signature(text, alg)
    except crypto.CryptoError as exc:
        raise _Refusal(f"{SIGNATURE} {exc}", SIGNATURE) from None
    return text


async def _verify_signature(
    request: Request, caller: Caller, public_key: str, body_digest: str | None
) -> None:
    hub = hub_context(request)
    timestamp = _signed_timestamp(request, hub.settings.signature_window_seconds)
    signature = _signature(request, crypto.public_key_alg(public_key))
    if body_digest is None:
        body_digest = hashlib.sha256(await request.body()).hexdigest()
    signed = signing_string(request.method, _path_qs(request), timestamp, body_digest)
    if not crypto.verify_with_stored_key(public_key, signed, signature):
        raise _Refusal("signature does not verify", SIGNATURE)
    if caller.member_id is None:  # a key always belongs to a member; never trust otherwise
        raise _Refusal("unknown or revoked API key")
    if not await run_in_threadpool(_remember, hub, replay_key(caller.member_id, signed)):
        raise _Refusal("signature replayed", SIGNATURE)


async def authenticate_key(request: Request) -> tuple[Caller, str | None]:
    """The active member whose API key the request carries, and its public key if it signs.

    Headers only, and once per request: the middleware asks before it reads a
    request's body (no body is read from an unknown sender, issue 15 #3), and
    ``authenticate`` then finds the answer on the request.
    """
    known: tuple[Caller, str | None] | None = getattr(request.state, "key_holder", None)
    if known is not None:
        return known
    try:
        found = await run_in_threadpool(_lookup, hub_context(request), _api_key(request))
        if found is None:
            raise _Refusal("unknown or revoked API key")
    except _Refusal as refusal:
        raise await run_in_threadpool(_refuse, request, refusal, None) from None
    caller = found[0]
    request.state.caller = caller
    limiter = request.app.state.rate_limiter
    if limiter.blocking:  # a shared store (Redis, PostgreSQL): not on the event loop
        await run_in_threadpool(limiter.check, str(caller.member_id))
    else:
        limiter.check(str(caller.member_id))
    request.state.key_holder = found
    return found


async def authenticate(request: Request, *, defer_body: bool = False) -> Caller:
    """Check the API key and, for members that sign, the signature.

    With ``defer_body`` (streamed uploads) the signature is checked later by
    ``verify_deferred_signature`` once the body has been spooled and hashed.
    """
    caller, public_key = await authenticate_key(request)
    try:
        if public_key and defer_body:
            request.state.pending_signature = public_key
        elif public_key:
            await _verify_signature(request, caller, public_key, None)
    except _Refusal as refusal:
        raise await run_in_threadpool(_refuse, request, refusal, caller) from None
    if _repeated(request, IDEMPOTENCY_KEY):
        raise BadRequest(f"{IDEMPOTENCY_KEY} appears more than once", field=IDEMPOTENCY_KEY)
    return caller


async def verify_deferred_signature(request: Request, caller: Caller, body_digest: str) -> None:
    public_key = getattr(request.state, "pending_signature", None)
    if not public_key:
        return
    try:
        await _verify_signature(request, caller, public_key, body_digest)
    except _Refusal as refusal:
        raise await run_in_threadpool(_refuse, request, refusal, caller) from None


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

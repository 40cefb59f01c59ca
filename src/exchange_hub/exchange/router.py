"""Exchange API (SPEC §9): messages, inbox, outbox, change feed, push deliveries.

Every write takes an optional ``Idempotency-Key``: the same key and body
replay the first response; another body is a 422; a first request still
running is a 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from exchange_hub import idempotency
from exchange_hub.deps import CurrentCaller, DbSession, Hub, ReadSession
from exchange_hub.exchange import delivery, endpoints, inbox, service
from exchange_hub.exchange.schemas import (
    ChangePage,
    FeedbackCreate,
    InboxPage,
    MessageAccepted,
    MessageCreate,
    MessageRead,
    MessageSummary,
    OutboxPage,
    PushDeliveryList,
    PushRedrive,
    State,
)
from exchange_hub.members import service as members
from exchange_hub.members.schemas import MemberRead, PushEndpoint
from exchange_hub.params import IdempotencyKey
from exchange_hub.scope import Caller

router = APIRouter(prefix="/api/v1", tags=["exchange"])

MessageId = Annotated[uuid.UUID, "the message id"]
KindFilter = Literal["query", "notification"]
Answer = TypeVar("Answer", bound=BaseModel)


def _idempotent(
    session: Session,
    caller: Caller,
    key: str | None,
    request: Request,
    response: Response,
    body: Any,
    work: Callable[[], Answer],
    *,
    model: type[Answer],
    status_code: int = 200,
) -> Answer:
    # Without a key nothing is stored, so the request need not be hashed.
    digest = idempotency.request_hash(request.method, request.url.path, body) if key else ""
    return idempotency.answer(
        session, caller.member_id, key, digest, work,
        model=model, response=response, status_code=status_code,
    )  # fmt: skip


def _sender_signature(request: Request) -> dict[str, str] | None:
    """The member's own request signature, kept for non-repudiation (SPEC §7)."""
    signature = request.headers.get("x-hub-signature")
    if not signature or getattr(request.state, "caller", None) is None:
        return None
    return {
        "alg": "Ed25519",
        "timestamp": request.headers.get("x-hub-timestamp", ""),
        "sig": signature,
    }


@router.post(
    "/messages",
    status_code=201,
    response_model=MessageAccepted,
    summary="Send a query (协查) or notification (通报)",
)
def post_message(
    payload: MessageCreate,
    request: Request,
    response: Response,
    session: DbSession,
    caller: CurrentCaller,
    key: IdempotencyKey = None,
) -> MessageAccepted:
    def work() -> MessageAccepted:
        return service.submit_message(
            session, caller, payload=payload, sender_signature=_sender_signature(request)
        )

    body = payload.model_dump(mode="json", exclude_none=True) if key else None
    return _idempotent(
        session, caller, key, request, response, body, work,
        model=MessageAccepted, status_code=201,
    )  # fmt: skip


@router.get("/messages/{message_id}", response_model=MessageRead)
def get_message(message_id: MessageId, session: DbSession, caller: CurrentCaller) -> MessageRead:
    return service.read_message(session, caller, message_id=message_id)


def _transition(
    step: Callable[..., MessageSummary],
    message_id: uuid.UUID,
    request: Request,
    response: Response,
    session: Session,
    caller: Caller,
    key: str | None,
) -> MessageSummary:
    """A body-less state change (receipt, withdrawal), idempotent like every write."""

    def work() -> MessageSummary:
        return step(session, caller, message_id=message_id)

    return _idempotent(session, caller, key, request, response, b"", work, model=MessageSummary)


@router.post(
    "/messages/{message_id}/receipt",
    response_model=MessageSummary,
    summary="Acknowledge a message addressed to your county (接收)",
)
def post_receipt(
    message_id: MessageId,
    request: Request,
    response: Response,
    session: DbSession,
    caller: CurrentCaller,
    key: IdempotencyKey = None,
) -> MessageSummary:
    return _transition(service.acknowledge, message_id, request, response, session, caller, key)


@router.post(
    "/messages/{message_id}/feedback",
    response_model=MessageSummary,
    summary="Answer a query (反馈); one final answer per query",
)
def post_feedback(
    message_id: MessageId,
    feedback: FeedbackCreate,
    request: Request,
    response: Response,
    session: DbSession,
    caller: CurrentCaller,
    key: IdempotencyKey = None,
) -> MessageSummary:
    def work() -> MessageSummary:
        return service.answer(session, caller, message_id=message_id, feedback=feedback)

    body = feedback.model_dump(mode="json", exclude_none=True) if key else None
    return _idempotent(session, caller, key, request, response, body, work, model=MessageSummary)


@router.post(
    "/messages/{message_id}/withdraw",
    response_model=MessageSummary,
    summary="Withdraw a message you sent, before the recipient acknowledged it",
)
def post_withdraw(
    message_id: MessageId,
    request: Request,
    response: Response,
    session: DbSession,
    caller: CurrentCaller,
    key: IdempotencyKey = None,
) -> MessageSummary:
    return _transition(service.withdraw, message_id, request, response, session, caller, key)


@router.get("/inbox", response_model=InboxPage, summary="Your to-do list (待办事项)")
def get_inbox(
    session: DbSession,
    caller: CurrentCaller,
    cursor: str | None = Query(None, max_length=200),
    state: State | None = None,
    kind: KindFilter | None = None,
    order: Literal["deadline", "arrival"] = "deadline",
    limit: int = Query(100, ge=1),
) -> InboxPage:
    return inbox.pull_inbox(
        session, caller, state=state, kind=kind, order=order, cursor=cursor, limit=limit
    )


@router.get("/outbox", response_model=OutboxPage, summary="What you sent, and how far it got")
def get_outbox(
    session: ReadSession,
    caller: CurrentCaller,
    cursor: str | None = Query(None, max_length=200),
    state: State | None = None,
    kind: KindFilter | None = None,
    limit: int = Query(100, ge=1),
) -> OutboxPage:
    return inbox.list_outbox(session, caller, state=state, kind=kind, cursor=cursor, limit=limit)


@router.get("/changes", response_model=ChangePage, summary="Everything that changed for you")
def get_changes(
    session: ReadSession,
    caller: CurrentCaller,
    since: str | None = Query(None, pattern=r"^[0-9]{1,18}$", description="a next_cursor"),
    limit: int = Query(500, ge=1, json_schema_extra={"x-page": "feed"}),
) -> ChangePage:
    return inbox.read_changes(session, caller, since=since, limit=limit)


@router.get("/hub-key", summary="The hub's public key, Ed25519 or SM2 (receipts and pushes)")
def get_hub_key(hub: Hub, caller: CurrentCaller) -> dict[str, str]:
    """For members checking receipts and pushes (operators: ``exchange-hub keys public``)."""
    return hub.keyring.hub_public_key()


@router.get(
    "/push-deliveries",
    response_model=PushDeliveryList,
    summary="Push deliveries in your scope (admins), e.g. the failed ones to re-drive",
)
def list_push_deliveries(
    session: ReadSession,
    caller: CurrentCaller,
    state: Literal["pending", "sending", "delivered", "failed", "cancelled"] | None = None,
    after_id: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=500),
) -> PushDeliveryList:
    return delivery.deliveries_in_scope(
        session, caller, state=state, after_id=after_id, limit=limit
    )


@router.post(
    "/push-deliveries/redrive",
    response_model=PushRedrive,
    summary="Queue failed pushes in your scope again (admins)",
)
def redrive_push_deliveries(session: DbSession, caller: CurrentCaller) -> PushRedrive:
    return delivery.redrive_in_scope(session, caller)


@router.put("/members/me/push-endpoint", response_model=MemberRead, tags=["members"])
def set_push_endpoint(
    body: PushEndpoint, session: DbSession, caller: CurrentCaller, hub: Hub
) -> MemberRead:
    """A county system registers where the hub pushes its new inbox items (signed)."""
    member = endpoints.set_own_push_url_as(session, caller, body.url, hub.settings)
    return members.member_read(member)

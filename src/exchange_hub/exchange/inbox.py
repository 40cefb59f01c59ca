"""Inbox (待办事项), outbox and the change feed: cursor-paged reads for county systems.

Cursors are opaque to clients. Inbox and outbox cursors are keyset positions
(sort time and id, base64url JSON), so a page never repeats or skips an item
even while new messages arrive. The change-feed cursor is the last ``seq``
seen, assigned in commit order (``changes.py``), so a sync job that stores it
after applying a page resumes exactly where it stopped.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub import clock, jsonbody
from exchange_hub.changes import changes_for
from exchange_hub.errors import InvalidInput
from exchange_hub.exchange import common, repository, service
from exchange_hub.exchange.repository import InboxOrder
from exchange_hub.exchange.schemas import ChangePage, ChangeRead, InboxItem, InboxPage, OutboxPage
from exchange_hub.models import Message
from exchange_hub.params import page_maximum
from exchange_hub.periods import parse_period
from exchange_hub.scope import Caller, require_admin_over, require_role


def encode_cursor(at: datetime, message_id: uuid.UUID) -> str:
    raw = json.dumps([at.isoformat(), str(message_id)]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, id_text = jsonbody.loads(raw, field="cursor", what="cursor")
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, uuid.UUID(id_text)
    except (ValueError, TypeError, binascii.Error, InvalidInput) as exc:
        raise InvalidInput("cursor is not one this hub handed out", field="cursor") from exc


def _check_limit(limit: int, maximum: int) -> int:
    if not 1 <= limit <= maximum:
        raise InvalidInput(f"limit must be between 1 and {maximum}", field="limit")
    return limit


def pull_inbox(
    session: Session,
    caller: Caller,
    *,
    state: str | None = None,
    kind: str | None = None,
    order: InboxOrder = "deadline",
    cursor: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> InboxPage:
    """The county's to-do list; pulling marks what it hands out as delivered."""
    require_role(caller, "county")
    now = now or clock.now()
    limit = _check_limit(limit, common.settings_of(session).max_page_size)
    messages = _deliver_page(
        session, caller, state=state, kind=kind, order=order, after=decode_cursor(cursor),
        limit=limit, now=now,
    )  # fmt: skip
    items = [
        InboxItem.model_validate(
            {**common.summary_of(m, now), "content": common.decrypt_content(session, m)}
        )
        for m in messages
    ]
    if messages:
        common.audit_read(session, caller, "inbox.pull", [m.id for m in messages])
    session.flush()
    return InboxPage(items=items, next_cursor=_next(messages, limit, order))


def _deliver_page(
    session: Session,
    caller: Caller,
    *,
    state: str | None,
    kind: str | None,
    order: InboxOrder,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    now: datetime,
) -> Sequence[Message]:
    """The page, locked, its ``submitted`` messages marked delivered. Asked for those only
    (a county system's usual poll), the page is read and marked in one statement."""
    actor, actor_member_id = caller.label, caller.member_id
    if state == "submitted":
        delivered = repository.deliver_submitted(
            session, caller.region, kind=kind, order=order, after=after, limit=limit, now=now
        )
        for message in delivered:
            service.record_delivery(
                session, message, actor=actor, actor_member_id=actor_member_id, now=now
            )
        return delivered
    messages = repository.inbox_messages(
        session, caller.region, state=state, kind=kind, order=order, after=after, limit=limit,
        for_update=True,
    )  # fmt: skip
    for message in messages:
        service.mark_delivered(
            session, message, actor=actor, actor_member_id=actor_member_id, now=now
        )
    return messages


def _next(messages: Any, limit: int, order: InboxOrder) -> str | None:
    if len(messages) < limit:
        return None
    last: Message = messages[-1]
    return encode_cursor(last.deadline if order == "deadline" else last.submitted_at, last.id)


def list_outbox(
    session: Session,
    caller: Caller,
    *,
    state: str | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> OutboxPage:
    """What the county sent and how far each message got, newest first."""
    require_role(caller, "county")
    now = now or clock.now()
    limit = _check_limit(limit, common.settings_of(session).max_page_size)
    messages = repository.outbox_messages(
        session, caller.region, state=state, kind=kind, before=decode_cursor(cursor), limit=limit
    )
    next_cursor = None
    if len(messages) == limit:
        next_cursor = encode_cursor(messages[-1].submitted_at, messages[-1].id)
    return OutboxPage(items=[common.summary(m, now) for m in messages], next_cursor=next_cursor)


def read_changes(
    session: Session, caller: Caller, *, since: str | None, limit: int = 500
) -> ChangePage:
    """Every record and message change visible to the caller's county after ``since``."""
    require_role(caller, "county")
    limit = _check_limit(limit, page_maximum(common.settings_of(session), feed=True))
    after = _parse_since(since)
    rows = changes_for(session, caller.region, since=after, limit=limit)
    items = [
        ChangeRead(
            seq=c.seq,
            at=c.at,
            object_type=c.object_type,
            object_id=c.object_id,
            action=c.action,
            summary=c.summary,
        )
        for c in rows
    ]
    return ChangePage(items=items, next_cursor=str(rows[-1].seq if rows else after))


def _parse_since(since: str | None) -> int:
    if since in (None, ""):
        return 0
    if not since.isdigit() or len(since) > 18:
        raise InvalidInput("since is a cursor (a whole number) from an earlier page", field="since")
    return int(since)


def open_queries_of(
    session: Session,
    caller: Caller,
    county: str,
    *,
    limit: int,
    period: str | None = None,
    sent: bool = False,
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """An admin's look at a county's open queries, earliest deadline first: each one's
    summary and decrypted content (the caller masks it). Unlike ``pull_inbox`` it marks
    nothing delivered: the county has not seen them. ``sent``: the queries the county
    asked (as 现居住地) that still wait for their answer, instead of those it received.

    ``period`` (a month ``2026-11``, quarter ``2026-Q4`` or year ``2026``; refused naming
    ``period`` otherwise) keeps the queries submitted in it, the ones the figures of that
    period count.
    """
    require_admin_over(caller, county)
    months = parse_period(period).labels if period is not None else None
    now = clock.now()
    messages = repository.inbox_messages(
        session, county, state=None, kind="query", order="deadline", after=None, limit=limit,
        periods=months, sent=sent,
    )  # fmt: skip
    return [
        (common.summary_of(message, now), common.decrypt_content(session, message))
        for message in messages
    ]

"""Plain typed factories: messages inserted directly, in any state, with chosen timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from exchange_hub.models import Message
from exchange_hub.workdays import SHANGHAI

NEEDS_FEEDBACK = {"query": True, "notification": False}


def at(text: str) -> datetime:
    """A moment written in Asia/Shanghai local time: ``at("2026-10-05 09:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def message_row(
    *,
    to_region: str = "440305",
    from_region: str = "110105",
    kind: str = "query",
    subtype: str = "normal",
    submitted_at: datetime,
    deadline: datetime | None = None,
    delivered_at: datetime | None = None,
    received_at: datetime | None = None,
    answered_at: datetime | None = None,
    withdrawn_at: datetime | None = None,
    feedback_result: str | None = None,
    needs_feedback: bool | None = None,
    needs_receipt: bool = True,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of one message; state and period follow from the timestamps."""
    if answered_at is not None and feedback_result is None:
        feedback_result = "found"
    state = (
        "withdrawn"
        if withdrawn_at
        else "answered"
        if answered_at
        else "received"
        if received_at
        else "delivered"
        if delivered_at
        else "submitted"
    )
    events = [submitted_at, delivered_at, received_at, answered_at, withdrawn_at]
    return {
        "id": uuid.uuid4(),
        "kind": kind,
        "subtype": subtype,
        "from_region": from_region,
        "to_region": to_region,
        "sender_member_id": None,
        "state": state,
        "needs_receipt": needs_receipt,
        "needs_feedback": NEEDS_FEEDBACK[kind] if needs_feedback is None else needs_feedback,
        "purpose": "test",
        "case_ref": None,
        "subject_index": None,
        "record_id": None,
        "body": "{}",
        "body_digest": "0" * 64,
        "sender_signature": None,
        "hub_receipt": None,
        "period": submitted_at.astimezone(SHANGHAI).strftime("%Y-%m"),
        "submitted_at": submitted_at,
        "deadline": deadline or submitted_at + timedelta(days=30),
        "delivered_at": delivered_at,
        "received_at": received_at,
        "answered_at": answered_at,
        "withdrawn_at": withdrawn_at,
        "feedback_result": feedback_result,
        "feedback_body": None,
        "updated_at": updated_at or max(e for e in events if e is not None),
    }


def make_message(session: Session, **fields: Any) -> dict[str, Any]:
    row = message_row(**fields)
    session.execute(insert(Message), [row])
    return row


def make_messages(session: Session, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 1000):
        session.execute(insert(Message), rows[start : start + 1000])


def record_row(
    *,
    kind: str = "inflow",
    registering_region: str = "440305",
    id_index: str | None = None,
    created_at: datetime,
    id_check_flagged: bool = False,
    hukou_missing: bool = False,
) -> dict[str, Any]:
    """A minimal record (流入/流出登记) with the data-quality flags the figures count."""
    return {
        "id": uuid.uuid4(), "kind": kind, "status": "active",
        "registering_region": registering_region, "other_region": None,
        "hukou_region": None if hukou_missing else "411324", "residence_region": None,
        "member_id": None, "id_index": id_index or uuid.uuid4().hex,
        "name_index": "n", "content_index": "c", "data_key_id": "k", "id_number_enc": "x",
        "name_enc": "x", "sex": "F", "birth_date": datetime(1990, 1, 1).date(),
        "key_object": False, "id_check_flagged": id_check_flagged, "id_converted": False,
        "hukou_missing": hukou_missing, "version": 1, "version_action": "create",
        "created_at": created_at, "updated_at": created_at, "updated_by": "test",
    }  # fmt: skip

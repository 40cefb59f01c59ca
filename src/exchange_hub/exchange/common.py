"""What the exchange modules share: keys and settings of a session, and how a
message is shown (summary, decrypted content, overdue), and the audit of reads."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub.audit import service as audit
from exchange_hub.config import Settings
from exchange_hub.crypto import KeyRing
from exchange_hub.exchange.schemas import MessageSummary
from exchange_hub.models import Message
from exchange_hub.scope import Caller

BODY_CONTEXT = "messages.body"
FEEDBACK_CONTEXT = "messages.feedback_body"


def keyring_of(session: Session) -> KeyRing:
    return session.info["keyring"]  # type: ignore[no-any-return]


def settings_of(session: Session) -> Settings:
    return session.info.get("settings") or Settings()


def subject_id_number(body: str) -> str:
    """The subject's ID number in a decrypted message body (what ``subject_index`` indexes)."""
    subject = json.loads(body).get("subject") or {}
    return str(subject.get("id_number", ""))


def decrypt_content(session: Session, message: Message) -> dict[str, Any]:
    return json.loads(keyring_of(session).decrypt(message.body, BODY_CONTEXT))  # type: ignore[no-any-return]


def decrypt_feedback(session: Session, message: Message) -> dict[str, Any] | None:
    if message.feedback_body is None:
        return None
    return json.loads(keyring_of(session).decrypt(message.feedback_body, FEEDBACK_CONTEXT))  # type: ignore[no-any-return]


def audit_read(session: Session, caller: Caller, action: str, ids: list[uuid.UUID]) -> None:
    audit.record(
        session,
        audit.entry_for(
            caller,
            action,
            object_type="message",
            object_id=str(ids[0]) if len(ids) == 1 else None,
            request_id=session.info.get("request_id"),
            detail={"count": len(ids), "ids": [str(i) for i in ids[:100]]},
        ),
    )


def is_overdue(message: Message, now: datetime) -> bool:
    """Derived, never stored: past the deadline and the required step not done."""
    if message.state == "withdrawn" or now <= message.deadline:
        return False
    if message.needs_feedback:
        return message.state != "answered"
    return message.state not in ("received", "answered")


def awaits_receipt(message: Message) -> bool:
    """Whether the addressee still has to acknowledge it: the stored flag says whether
    the kind takes a receipt at all; a received, answered or withdrawn one is done."""
    return message.needs_receipt and message.state in ("submitted", "delivered")


def awaits_feedback(message: Message) -> bool:
    """Whether an answer is still due (issue 21: an answered query no longer reads
    ``needs_feedback: true``); the stored flag says whether the kind is answered at all."""
    return message.needs_feedback and message.state not in ("answered", "withdrawn")


def summary(message: Message, now: datetime) -> MessageSummary:
    """A message as listed, or as answered after a transition."""
    return MessageSummary.model_validate(summary_of(message, now))


def summary_of(message: Message, now: datetime) -> dict[str, Any]:
    return {
        "id": message.id,
        "kind": message.kind,
        "subtype": message.subtype,
        "from_region": message.from_region,
        "to_region": message.to_region,
        "state": message.state,
        "overdue": is_overdue(message, now),
        "needs_receipt": awaits_receipt(message),
        "needs_feedback": awaits_feedback(message),
        "purpose": message.purpose,
        "case_ref": message.case_ref,
        "submitted_at": message.submitted_at,
        "deadline": message.deadline,
        "deadline_basis": message.deadline_basis,
        "delivered_at": message.delivered_at,
        "received_at": message.received_at,
        "answered_at": message.answered_at,
        "withdrawn_at": message.withdrawn_at,
        "feedback_result": message.feedback_result,
    }

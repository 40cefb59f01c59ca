"""Messages between counties: queries (协查) and notifications (通报), with their history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.audit import AuditId
from exchange_hub.models.base import Base, UTCDateTime, new_id

MESSAGE_STATES = ("submitted", "delivered", "received", "answered", "withdrawn")


class Message(Base):
    """A query or notification from one county to another.

    The timestamps of each state are kept on the row (latency and rate
    figures read them); ``MessageEvent`` keeps every transition with its actor.
    ``period`` is the Asia/Shanghai month of ``submitted_at`` (``2026-10``).
    ``deadline_basis`` says whether ``deadline`` followed the official holiday
    arrangement or, for a year not loaded yet, the weekends only; loading the
    year recomputes it (``exchange/deadlines.py``).
    Person data lives only in ``body`` (encrypted JSON); the subject's ID
    number is findable through ``subject_index`` (blind index).
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_to_region_period", "to_region", "period"),
        Index("ix_messages_from_region_period", "from_region", "period"),
        # keyset pages of the inbox (by deadline) and the outbox (newest first)
        Index("ix_messages_inbox", "to_region", "deadline", "id"),
        Index("ix_messages_outbox", "from_region", "submitted_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(12))  # query | notification
    subtype: Mapped[str] = mapped_column(String(20))  # urgent|normal|certificate | birth|...
    from_region: Mapped[str] = mapped_column(String(6))
    to_region: Mapped[str] = mapped_column(String(6))
    sender_member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(12), index=True)
    needs_receipt: Mapped[bool] = mapped_column(Boolean, default=True)
    needs_feedback: Mapped[bool] = mapped_column(Boolean, default=False)
    purpose: Mapped[str] = mapped_column(String(300))
    case_ref: Mapped[str | None] = mapped_column(String(100))
    subject_index: Mapped[str | None] = mapped_column(String(90), index=True)
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    body: Mapped[str] = mapped_column(Text)
    body_digest: Mapped[str] = mapped_column(String(64))
    sender_signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    hub_receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    period: Mapped[str] = mapped_column(String(7), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    # official | weekends_only: whether the holiday arrangement of every day the
    # deadline computation examined was loaded (workdays.py); the hub always sets it,
    # the default serves rows written by other tools (benches, imports)
    deadline_basis: Mapped[str] = mapped_column(String(14), server_default="official")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_result: Mapped[str | None] = mapped_column(String(24))
    feedback_body: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class MessageEvent(Base):
    """One state transition of a message, with its time and actor."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(AuditId, primary_key=True, autoincrement=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor: Mapped[str] = mapped_column(String(200))
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


PUSH_STATES = ("pending", "sending", "delivered", "failed", "cancelled")


class PushDelivery(Base):
    """Transactional outbox of pushes to a member's registered HTTPS endpoint.

    A row is written in the same transaction as the message, so a committed
    message always has its push queued. Workers claim rows atomically
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a guarded ``UPDATE`` under
    SQLite's write lock) with a lease (``claimed_until``); a worker that dies
    mid-send leaves a lease that expires and the row is claimed again.
    """

    __tablename__ = "push_deliveries"
    __table_args__ = (Index("ix_push_deliveries_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(AuditId, primary_key=True, autoincrement=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    region: Mapped[str] = mapped_column(String(6), index=True)
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))

"""The append-only, hash-chained audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.base import Base, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
AuditId = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(AuditId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(6), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(20))
    client: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(90))
    hash: Mapped[str] = mapped_column(String(90))


class AuthFailureCount(Base):
    """Failed authentications of one kind in one interval, beyond the first (which is audited).

    A kind is (client address, reason, member when known). The counter is not
    part of the chain: when its interval has closed it is turned into one audit
    row carrying the count, and deleted (``audit.refusals``).
    """

    __tablename__ = "auth_failure_counts"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 hex of the client address, reason and member id."""
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, index=True)
    client: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(6))
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)

"""Members: the county systems, department reporters and admins that hold API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub import clock
from exchange_hub.models.base import Base, UTCDateTime, new_id


class Member(Base):
    __tablename__ = "members"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(6), index=True)
    department: Mapped[str | None] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    key_hash: Mapped[str] = mapped_column(String(80))
    public_key: Mapped[str | None] = mapped_column(String(200))
    """Ed25519 as unpadded base64url (43 characters), or SM2 as 04||X||Y hex (130):
    ``crypto.parse_public_key``."""
    person_data_grant: Mapped[bool] = mapped_column(Boolean, default=False)
    push_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SeenSignature(Base):
    """Signed requests accepted inside the replay window, by ``deps.replay_key`` (the
    member and what it signed, not the signature's text); a second use is a replay."""

    __tablename__ = "seen_signatures"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

"""The change feed that county sync jobs pull (``GET /api/v1/changes``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.audit import AuditId
from exchange_hub.models.base import Base, UTCDateTime


class Change(Base):
    """One change to a record or message, visible to up to two counties.

    ``seq`` is assigned in commit order (appends are serialised at commit),
    so a reader that resumes after the last ``seq`` it saw misses nothing.
    """

    __tablename__ = "changes"

    seq: Mapped[int] = mapped_column(AuditId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(30))
    region_a: Mapped[str] = mapped_column(String(6), index=True)
    region_b: Mapped[str | None] = mapped_column(String(6), index=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)

"""Rate-limit windows shared by every node (``ratelimits``, issue 18)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.base import Base, UTCDateTime


class RateLimitWindow(Base):
    """One key's current fixed window: ``hits`` counted since it opened, until ``ends_at``.

    Used on PostgreSQL when no Redis is configured. The table is UNLOGGED there
    (migration 0014): a check writes no WAL, so its commit waits for no disk
    flush; after a crash the table starts empty, which only forgets the windows
    open at the time. Rows of closed windows are deleted by ``ratelimits.prune``.
    """

    __tablename__ = "rate_limit_windows"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    """What is limited: ``member`` (requests) or ``address`` (failed authentications)."""
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The member's id or the client's address."""
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hits: Mapped[int] = mapped_column(Integer)

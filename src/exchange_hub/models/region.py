"""Administrative divisions (GB/T 2260)."""

from __future__ import annotations

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.base import Base


class Region(Base):
    """A province, prefecture or county, keyed by its 6-digit code; ``000000`` is the nation."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(12))
    parent: Mapped[str | None] = mapped_column(String(6), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

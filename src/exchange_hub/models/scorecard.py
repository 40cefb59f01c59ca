"""Per-province changes to the two-way assessment (双向考核) targets and weights."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.base import Base, UTCDateTime


class ScorecardSetting(Base):
    """A province's own target or weight for one indicator (or for a role / the overall score).

    ``key`` is an indicator key of ``scorecard/indicators.toml``, or
    ``role.destination`` / ``role.origin`` (role weights) or ``overall``
    (target of the overall score). An empty ``target`` or ``weight`` keeps
    the shipped default. Every change is also written to the audit trail.
    """

    __tablename__ = "scorecard_settings"

    province: Mapped[str] = mapped_column(String(6), primary_key=True)
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    target: Mapped[float | None] = mapped_column(Float)
    weight: Mapped[float | None] = mapped_column(Float)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)

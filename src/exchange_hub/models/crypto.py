"""Progress of the re-encryption job (``reencrypt.move_rows``), one row per table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.base import Base, UTCDateTime


class ReencryptProgress(Base):
    """How far the move of one table to the current keys has got.

    ``target`` names the keys rows are moved to (``<data alg>.<kid>/<index alg>.<kid>``);
    a new target (another ``keys rotate``) starts the table again. ``after`` is the
    last primary key done in this pass (as text); ``passes`` counts the passes, since
    a node still writing with the old keys during the change leaves rows behind that
    the next pass takes. ``finished_at`` is set when a pass found nothing left.
    """

    __tablename__ = "crypto_reencrypt"

    table_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    target: Mapped[str] = mapped_column(String(60))
    after: Mapped[str | None] = mapped_column(String(80))
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    passes: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

"""The State Council's holiday arrangement as the operator loaded it (``exchange_hub.holidays``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.base import Base, UTCDateTime

DAY_KINDS = ("holiday", "workday")


class CalendarDay(Base):
    """An official rest day (``holiday``: 放假) or a make-up working day (``workday``: 调休上班).

    ``source`` says where it came from: ``chinese-calendar 1.11.0`` (the
    package, at migration), ``file:notice-2027.csv`` (``exchange-hub calendar
    load``) or ``admin:<member>`` (the admin endpoint).
    """

    __tablename__ = "calendar_days"
    __table_args__ = (CheckConstraint("kind IN ('holiday', 'workday')", name="kind"),)

    date: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(60))
    source: Mapped[str] = mapped_column(String(120))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CalendarYear(Base):
    """A year whose arrangement is loaded (covered): its deadlines are ``official``."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(120))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CalendarRevision(Base):
    """One row: bumped by every load, so each process notices a load made by another
    node with one tiny query per transaction and re-reads the table only then."""

    __tablename__ = "calendar_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)

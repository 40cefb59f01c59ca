"""Department monthly reports (部门信息月报/通报) and the county–department pairs that owe them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub import clock
from exchange_hub.models.base import Base, UTCDateTime, new_id


class ReportingPair(Base):
    """A county–department pair that owes a report for every month it is active in full.

    ``active_from`` and ``active_until`` are inclusive Asia/Shanghai dates;
    ``active_until`` empty means "until further notice". A pair may have
    several intervals (deactivated, later activated again); they never overlap.
    """

    __tablename__ = "report_pairs"
    __table_args__ = (Index("ix_report_pairs_region_department", "region", "department"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    region: Mapped[str] = mapped_column(String(6))
    department: Mapped[str] = mapped_column(String(40))
    active_from: Mapped[date] = mapped_column(Date)
    active_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class DepartmentReport(Base):
    """One department's report for one county and month, as last corrected.

    Timeliness belongs to the first submission: ``first_submitted_at`` and
    ``on_time`` never change after it; corrections add versions and only
    move ``version``, ``zero``, ``counts`` and ``updated_at``. Only loading a
    holiday arrangement that moves ``deadline`` recomputes it and ``on_time``
    (``reports/deadlines.py``, audited).
    """

    __tablename__ = "department_reports"
    __table_args__ = (
        UniqueConstraint(
            "region", "department", "period", name="uq_department_reports_region_department_period"
        ),
        Index("ix_department_reports_period_region", "period", "region"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    region: Mapped[str] = mapped_column(String(6))
    department: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(7))
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    first_submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    on_time: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    zero: Mapped[bool] = mapped_column(Boolean)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DepartmentReportVersion(Base):
    """Every submission of a report, the first one and each correction, as sent."""

    __tablename__ = "department_report_versions"

    report_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("department_reports.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    zero: Mapped[bool] = mapped_column(Boolean)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)

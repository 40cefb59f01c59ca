"""Exchange figures kept up to date from the messages table (rates, latency histograms).

A bulletin reads these few hundred rows instead of scanning every message.
Every table is keyed by ``role`` (``responder``: the county a message was
routed to; ``requester``: the county that sent it), the county ``region`` and
the ``period`` (Asia/Shanghai month of submission). ``metrics/aggregates.py``
explains how they are filled and why they are exact for any evaluation time.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.base import Base, UTCDateTime


class ExchangeCount(Base):
    """Counts of the non-withdrawn messages of one county, period, counterpart province and kind.

    Subtypes (urgent, normal, certificate, birth …) are summed: the indicators do
    not split them, and fewer rows keep a province bulletin a read of a few
    thousand rows.
    """

    __tablename__ = "metrics_exchange"

    role: Mapped[str] = mapped_column(String(10), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    region: Mapped[str] = mapped_column(String(6), primary_key=True)
    counterpart: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    routed: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    answered_on_time: Mapped[int] = mapped_column(Integer)
    not_found: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer)


class PendingCount(Base):
    """Messages still waiting for feedback or receipt, by their exact deadline.

    Whether such a message is ``due`` depends on the evaluation time, so it is
    counted against the region only when the deadline lies before that time.
    Deadlines are the end of a working day, so there are few distinct values.
    """

    __tablename__ = "metrics_pending"

    role: Mapped[str] = mapped_column(String(10), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    region: Mapped[str] = mapped_column(String(6), primary_key=True)
    counterpart: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    unanswered: Mapped[int] = mapped_column(Integer)
    unreceived: Mapped[int] = mapped_column(Integer)


class LatencyHistogram(Base):
    """Mergeable latency histogram of one leg (``delivered``, ``received``, ``answered``).

    ``buckets`` maps a bucket index (``metrics/histogram.py``), as a string
    (JSON object keys are strings), to a count.
    """

    __tablename__ = "metrics_latency"

    role: Mapped[str] = mapped_column(String(10), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    region: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    leg: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    buckets: Mapped[dict[str, int]] = mapped_column(JSON)


class RefreshState(Base):
    """How far the incremental refresh has read ``messages.updated_at``."""

    __tablename__ = "metrics_refresh_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(UTCDateTime)


class AppliedMessage(Base):
    """Messages of the recent overlap window already folded into the figures.

    A transaction may commit a message whose ``updated_at`` lies before the
    watermark; re-reading a window behind it catches such late commits, and
    this table tells which of the re-read rows were already counted.
    """

    __tablename__ = "metrics_applied"

    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

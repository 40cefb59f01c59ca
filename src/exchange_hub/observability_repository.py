"""The database figures ``/metrics`` reads at scrape time (``observability.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange_hub.models import Message, PushDelivery


def messages_in_states(session: Session, states: Sequence[str]) -> int:
    query = select(func.count()).where(Message.state.in_(states))
    return int(session.scalar(query) or 0)


def messages_in_states_due_before(session: Session, states: Sequence[str], now: datetime) -> int:
    query = select(func.count()).where(Message.state.in_(states), Message.deadline < now)
    return int(session.scalar(query) or 0)


def failed_push_deliveries(session: Session) -> int:
    """Push deliveries given up (``failed``)."""
    query = select(func.count()).where(PushDelivery.state == "failed")
    return int(session.scalar(query) or 0)

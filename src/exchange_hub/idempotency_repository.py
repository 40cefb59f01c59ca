"""Queries of the stored answers of idempotent requests (``idempotency_keys``,
``idempotency.py``) beside the ORM's look-ups by key. Nothing here commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from exchange_hub.db import rowcount
from exchange_hub.models import IdempotencyKey


def expire_answers_created_before(session: Session, older_than: datetime) -> int:
    """Mark ``expired`` and drop the stored answer of the done keys created before
    ``older_than``; how many."""
    result = session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.state == "done", IdempotencyKey.created_at < older_than)
        .values(state="expired", response_enc=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)

"""Jobs of the metrics domain: ``metrics.refresh`` folds changed messages into the figures.

Registered with the hub's job runner (``exchange-hub jobs run`` / ``worker``).
Reading figures never refreshes (``figures.py`` reads what is not folded in
raw); the job keeps that part small, and ``freshness.py`` runs it after a read
when no worker did for a while.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.metrics import aggregates


def refresh(sessions: sessionmaker[Session], *, full: bool = False) -> aggregates.RefreshResult:
    """One refresh in its own transaction; safe to run twice or on several nodes at once."""
    with transaction(sessions) as session:
        return aggregates.rebuild(session) if full else aggregates.refresh(session)


def refresh_job(hub: HubContext) -> dict[str, Any]:
    """Job ``metrics.refresh``."""
    result = refresh(hub.sessions)
    return {
        "changed_messages": result.changed_messages,
        "partitions": result.partitions,
        "watermark": result.watermark.isoformat(),
    }

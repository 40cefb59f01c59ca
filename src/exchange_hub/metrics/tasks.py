"""Jobs of the metrics domain: ``metrics.refresh`` folds changed messages into the figures."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from exchange_hub.db import transaction
from exchange_hub.metrics import aggregates


def refresh(sessions: sessionmaker[Session], *, full: bool = False) -> aggregates.RefreshResult:
    """Job ``metrics.refresh``: its own transaction; safe to run twice or on several nodes."""
    with transaction(sessions) as session:
        return aggregates.rebuild(session) if full else aggregates.refresh(session)


JOBS = {"metrics.refresh": refresh}

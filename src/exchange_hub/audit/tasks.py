"""Jobs ``audit.purge`` (rows past the retention period go, never before six months) and
``audit.flush_refusals`` (the counts of repeated failed authentications)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from exchange_hub import clock
from exchange_hub.audit import refusals, service
from exchange_hub.context import HubContext
from exchange_hub.db import transaction

MIN_RETENTION_DAYS = 183  # Cybersecurity Law art. 21: network logs kept ≥ six months


def purge_audit(hub: HubContext) -> dict[str, Any]:
    """Delete audit rows older than ``HUB_AUDIT_RETENTION_DAYS`` (at least 183)."""
    days = max(hub.settings.audit_retention_days, MIN_RETENTION_DAYS)
    with transaction(hub.sessions) as session:
        purged = service.purge_before(session, clock.now() - timedelta(days=days))
    return {"purged": purged, "retention_days": days}


def flush_refusals(hub: HubContext) -> dict[str, Any]:
    """Audit the count of repeated failed authentications of every closed interval
    (``audit.refusals``)."""
    with transaction(hub.sessions) as session:
        written = refusals.flush_closed(session, hub.settings.auth_failure_interval_seconds)
    return {"summaries": written}

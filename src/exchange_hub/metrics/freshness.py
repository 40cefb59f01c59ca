"""Keeping the figures' backlog short from the read side.

Reading figures writes nothing (``figures.py`` reads what the aggregates lack
from the raw rows). A read only schedules, after its answer is sent, a check:
when changes older than ``HUB_FIGURES_REFRESH_AFTER_SECONDS`` are still not
folded in (no worker ran ``metrics.refresh`` lately), one short refresh runs in
its own transaction on the primary, giving way at once (PostgreSQL's
``pg_try_advisory_xact_lock``) when another refresh is already running.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import BackgroundTasks
from sqlalchemy.exc import SQLAlchemyError

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.deps import Hub
from exchange_hub.metrics import aggregates

log = logging.getLogger(__name__)


def refresh_if_stale(hub: HubContext) -> aggregates.RefreshResult | None:
    """Refresh when the oldest change not folded in is older than the bound (or the
    aggregates were never built); None when nothing was due or another refresh ran."""
    with hub.sessions() as session:
        pending = aggregates.unapplied(session)
    bound = timedelta(seconds=hub.settings.figures_refresh_after_seconds)
    if pending.built and (pending.oldest is None or clock.now() - pending.oldest < bound):
        return None
    with transaction(hub.sessions) as session:
        return aggregates.try_refresh(session)


def _refresh_quietly(hub: HubContext) -> None:
    try:
        refresh_if_stale(hub)
    except SQLAlchemyError:  # the next read or the job tries again; the answer was sent
        log.warning("figures refresh after a read failed", exc_info=True)


def refresh_after_reading(hub: Hub, background: BackgroundTasks) -> None:
    """Dependency of every route that reads figures: the check above, after the answer."""
    background.add_task(_refresh_quietly, hub)

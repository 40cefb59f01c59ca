"""Jobs of the exchange: push delivery and the purge of seen signatures (listed, with
every other domain's, in ``exchange_hub.jobs``)."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange import delivery, repository


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver_pushes(hub: HubContext) -> dict[str, Any]:
    """Send due pushes and their retries (``FOR UPDATE SKIP LOCKED`` claims)."""
    stats = delivery.drain(hub.sessions, hub.settings, hub.keyring, worker=worker_name())
    return delivery.describe(stats)


def purge_seen_signatures(hub: HubContext) -> dict[str, Any]:
    """Replay protection only needs signatures inside the window (twice, for clock skew)."""
    cutoff = clock.now() - timedelta(seconds=2 * hub.settings.signature_window_seconds)
    with transaction(hub.sessions) as session:
        return {"purged": repository.delete_signatures_seen_before(session, cutoff)}

"""Scheduled jobs, named ``domain.verb``; each is safe to run twice and on several nodes.

``exchange-hub jobs run`` runs every job once; ``exchange-hub worker`` loops.
Jobs take the hub context (never ORM objects) and open their own
transactions. Other domains add theirs with ``register_job``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange import delivery
from exchange_hub.exchange.retention import purge_bodies
from exchange_hub.models import SeenSignature

log = logging.getLogger("exchange_hub.jobs")

Job = Callable[[HubContext], dict[str, Any]]
JOBS: dict[str, Job] = {}


def register_job(name: str, job: Job) -> None:
    JOBS[name] = job


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
        result = session.execute(delete(SeenSignature).where(SeenSignature.seen_at < cutoff))
        return {"purged": int(result.rowcount or 0)}  # type: ignore[attr-defined]


register_job("exchange.deliver_pushes", deliver_pushes)
register_job("exchange.purge_seen_signatures", purge_seen_signatures)
register_job("exchange.purge_bodies", purge_bodies)


def run_all(hub: HubContext) -> dict[str, dict[str, Any]]:
    """Every registered job once; one failing job does not stop the others."""
    results: dict[str, dict[str, Any]] = {}
    for name, job in JOBS.items():
        try:
            results[name] = job(hub)
        except Exception as exc:  # a job's failure is reported, the rest still run
            log.exception("job %s failed", name)
            results[name] = {"error": f"{exc.__class__.__name__}: {exc}"}
    return results

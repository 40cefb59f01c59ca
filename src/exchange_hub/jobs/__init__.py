"""Every scheduled job of the hub, in one list: named ``domain.verb``, run in this order.

``exchange-hub jobs run`` runs each once; ``exchange-hub worker`` loops. A job
takes the hub context (never ORM objects), opens its own transactions, and is
safe to run twice and on several nodes at once. A domain's jobs live in its
``tasks.py``; this module is the only place that lists them, so a job runs
because it is written here, not because some module happened to be imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from exchange_hub import idempotency, ratelimits, reencrypt
from exchange_hub.audit import tasks as audit
from exchange_hub.context import HubContext
from exchange_hub.exchange import tasks as exchange
from exchange_hub.exchange.retention import purge_bodies
from exchange_hub.metrics import tasks as metrics

log = logging.getLogger("exchange_hub.jobs")

Job = Callable[[HubContext], dict[str, Any]]

JOBS: Mapping[str, Job] = MappingProxyType(
    {
        "exchange.deliver_pushes": exchange.deliver_pushes,
        "exchange.purge_seen_signatures": exchange.purge_seen_signatures,
        "exchange.purge_bodies": purge_bodies,
        "metrics.refresh": metrics.refresh_job,
        "audit.flush_refusals": audit.flush_refusals,
        "audit.purge": audit.purge_audit,
        "idempotency.expire_answers": idempotency.expire_answers_job,
        "ratelimits.prune": ratelimits.prune_job,
        reencrypt.JOB: reencrypt.reencrypt_job,
    }
)


def run_all(hub: HubContext) -> dict[str, dict[str, Any]]:
    """Every job once; one failing job does not stop the others."""
    results: dict[str, dict[str, Any]] = {}
    for name, job in JOBS.items():
        try:
            results[name] = job(hub)
        except Exception as exc:  # a job's failure is reported, the rest still run
            log.exception("job %s failed", name)
            results[name] = {"error": f"{exc.__class__.__name__}: {exc}"}
    return results

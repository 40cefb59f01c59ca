"""Prometheus metrics (``GET /metrics``).

Request counters and latency histograms are kept per process; with several
uvicorn workers set ``PROMETHEUS_MULTIPROC_DIR`` (``exchange-hub serve``
does it for you) so a scrape sums every worker. Figures that live in the
database (inbox depth, overdue items, failed pushes, the holiday calendar's
coverage) are read at scrape time.

``hub_calendar_covered_until``: the Unix time at which the last day of the
unbroken run of years whose official holiday arrangement is loaded ends
(00:00 Asia/Shanghai of the next day; 0 when none is). Alert when it is less
than 60 days ahead: deadlines beyond it count weekends only.

``hub_crypto_reencrypt_rows{table,state}`` (``total``, ``done``) and
``hub_crypto_reencrypt_finished{table}`` (1 when the table is on the keys this
node writes with): the progress of ``reencrypt.move_rows`` after a key rotation or
a change of profile. Until every table is finished, look-ups consult the
indexes of both profiles.

``hub_rate_limit_fallbacks_total{store}``: rate-limit checks this process
answered on its own because the shared store (Redis or PostgreSQL) failed
(``ratelimits``); alert when it grows: the limits then hold per node only.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.concurrency import run_in_threadpool

from exchange_hub import clock, reencrypt
from exchange_hub import observability_repository as repository
from exchange_hub.context import HubContext
from exchange_hub.deps import authenticate
from exchange_hub.errors import Forbidden
from exchange_hub.workdays_store import calendar_status

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class HttpMetrics:
    """Request counts by route and status, and latency histograms."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = None if self.multiprocess else CollectorRegistry()
        self.requests = Counter(
            "hub_http_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "hub_http_request_seconds", "HTTP request latency", ["method", "route"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.limit_fallbacks = Counter(
            "hub_rate_limit_fallbacks",
            "Rate-limit checks answered by this process because the shared store failed",
            ["store"], registry=self.registry,
        )  # fmt: skip

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def count_fallback(self, store: str) -> None:
        self.limit_fallbacks.labels(store).inc()

    def exposition(self, hub: HubContext) -> bytes:
        http = self.registry
        if http is None:
            http = CollectorRegistry()
            multiprocess.MultiProcessCollector(http)  # type: ignore[no-untyped-call]  # untyped library
        database = CollectorRegistry()
        _database_gauges(hub, database)
        return generate_latest(http) + generate_latest(database)


def _database_gauges(hub: HubContext, registry: CollectorRegistry) -> None:
    open_states = ("submitted", "delivered", "received")
    now = clock.now()
    with hub.read_sessions() as session:
        depth = repository.messages_in_states(session, open_states)
        overdue = repository.messages_in_states_due_before(session, open_states, now)
        failed = repository.failed_push_deliveries(session)
        calendar = calendar_status(session, clock.today())
        moves = reencrypt.progress(session)
    Gauge("hub_inbox_depth", "Messages not yet answered or closed", registry=registry).set(depth)
    Gauge("hub_overdue_items", "Open messages past their deadline", registry=registry).set(overdue)
    Gauge("hub_push_failures", "Push deliveries given up", registry=registry).set(failed)
    Gauge(
        "hub_calendar_covered_until",
        "Unix time at which the official holiday arrangement loaded runs out (0: none)",
        registry=registry,
    ).set(calendar.covered_until_timestamp)
    _reencrypt_gauges(registry, moves, reencrypt.target_of(hub.keyring))


def _reencrypt_gauges(
    registry: CollectorRegistry, moves: list[reencrypt.TableProgress], target: str
) -> None:
    rows = Gauge("hub_crypto_reencrypt_rows", "Rows of the re-encryption pass, by table",
                 ["table", "state"], registry=registry)  # fmt: skip
    finished = Gauge("hub_crypto_reencrypt_finished",
                     "1 when a table is on the keys this node writes with",
                     ["table"], registry=registry)  # fmt: skip
    for move in moves:
        rows.labels(move.table, "total").set(move.total)
        rows.labels(move.table, "done").set(move.total if move.finished else move.done)
        finished.labels(move.table).set(int(move.finished and move.target == target))


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus exposition; needs ``HUB_METRICS_TOKEN`` or an admin API key."""
    hub: HubContext = request.app.state.hub
    token = hub.settings.metrics_token
    bearer = request.headers.get("authorization", "").partition(" ")[2].strip()
    once = len(request.headers.getlist("authorization")) == 1  # else authenticate refuses
    if not (token and once and bearer == token):
        caller = await authenticate(request)
        if caller.role != "admin":
            raise Forbidden("metrics need the metrics token or an admin key", field="Authorization")
    body = await run_in_threadpool(request.app.state.http_metrics.exposition, hub)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

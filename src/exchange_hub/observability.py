"""Prometheus metrics (``GET /metrics``), per-member rate limits, and the limit on
failed authentications per client address.

Request counters and latency histograms are kept per process; with several
uvicorn workers set ``PROMETHEUS_MULTIPROC_DIR`` (``exchange-hub serve``
does it for you) so a scrape sums every worker. Figures that live in the
database (inbox depth, overdue items, failed pushes, the holiday calendar's
coverage) are read at scrape time.

``hub_calendar_covered_until``: the Unix time at which the last day of the
unbroken run of years whose official holiday arrangement is loaded ends
(00:00 Asia/Shanghai of the next day; 0 when none is). Alert when it is less
than 60 days ahead: deadlines beyond it count weekends only.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.errors import Forbidden, TooManyRequests
from exchange_hub.models import Message
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

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self, hub: HubContext) -> bytes:
        http = self.registry
        if http is None:
            http = CollectorRegistry()
            multiprocess.MultiProcessCollector(http)
        database = CollectorRegistry()
        _database_gauges(hub, database)
        return generate_latest(http) + generate_latest(database)


def _database_gauges(hub: HubContext, registry: CollectorRegistry) -> None:
    open_states = ("submitted", "delivered", "received")
    now = clock.now()
    with hub.read_sessions() as session:
        depth = session.scalar(select(func.count()).where(Message.state.in_(open_states)))
        overdue = session.scalar(
            select(func.count()).where(Message.state.in_(open_states), Message.deadline < now)
        )
        failed = _failed_pushes(session)
        calendar = calendar_status(session, clock.today())
    Gauge("hub_inbox_depth", "Messages not yet answered or closed", registry=registry).set(
        depth or 0
    )
    Gauge("hub_overdue_items", "Open messages past their deadline", registry=registry).set(
        overdue or 0
    )
    Gauge("hub_push_failures", "Push deliveries given up", registry=registry).set(failed)
    Gauge(
        "hub_calendar_covered_until",
        "Unix time at which the official holiday arrangement loaded runs out (0: none)",
        registry=registry,
    ).set(calendar.covered_until_timestamp)


def _failed_pushes(session) -> int:  # type: ignore[no-untyped-def]
    """Pushes marked failed, when the exchange keeps a delivery outbox."""
    from exchange_hub import models

    outbox = getattr(models, "Delivery", None)
    if outbox is None or not hasattr(outbox, "state"):
        return 0
    return int(session.scalar(select(func.count()).where(outbox.state == "failed")) or 0)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus exposition; needs ``HUB_METRICS_TOKEN`` or an admin API key."""
    from exchange_hub.deps import authenticate

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


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by key: ``capacity`` tokens each, refilled at ``rate`` per second.

    Per process. ``now`` is the time source (seconds); past ``max_keys`` keys,
    buckets that have filled up again are forgotten (a full bucket and a
    missing one mean the same), then the oldest.
    """

    def __init__(
        self, rate: float, capacity: float, now: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:  # fmt: skip
        self.rate, self.capacity, self.now, self.max_keys = rate, capacity, now, max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float | None:
        """Take a token: ``None`` when there was one, else the seconds until there is."""
        now = self.now()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                self._make_room(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            # max(0, …): a clock set back must not drain the bucket
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return (1 - bucket.tokens) / self.rate

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        refill = self.capacity / self.rate
        fresh = [(key, bucket) for key, bucket in self._buckets.items()
                 if now - bucket.updated < refill]  # fmt: skip
        # Still full (many keys at once): the oldest go, down to nine tenths, so
        # that this pass over every bucket runs once per many new keys.
        self._buckets = dict(fresh[-(self.max_keys * 9 // 10) :])


def retry_after(wait: float) -> dict[str, str]:
    """The ``Retry-After`` header (RFC 9110 §10.2.3): whole seconds, at least one."""
    return {"Retry-After": str(max(1, math.ceil(wait)))}


class RateLimiter:
    """Token bucket per member: ``per_minute`` sustained, bursts of a sixth of it."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self._buckets = TokenBuckets(self.rate, max(10.0, per_minute / 6.0))

    def check(self, member: str) -> None:
        wait = self._buckets.take(member)
        if wait is not None:
            raise TooManyRequests(
                f"rate limit of {round(self.rate * 60)} requests a minute exceeded",
                headers=retry_after(wait),
            )


class FailedAuthLimiter(Protocol):
    """Failed authentications per client address (issue 15, finding 9).

    Kept per process for now (``LocalFailedAuthLimiter``); a shared store
    (Redis, PostgreSQL) can stand behind the same method later.
    """

    def failed(self, address: str) -> float | None:
        """Count a failure from ``address``: ``None`` while within the limit, else the
        seconds to wait before the address may fail again."""
        ...


class LocalFailedAuthLimiter:
    """``limit`` failures per ``interval_seconds`` per address, in this process's memory.

    A token bucket (as ``RateLimiter``), so a burst of ``limit`` failures is
    allowed, then one per ``interval_seconds / limit``. Time is the hub's clock,
    so the interval agrees with the audit trail's failure counts.
    """

    def __init__(self, limit: int, interval_seconds: int) -> None:
        self._buckets = TokenBuckets(limit / interval_seconds, limit, now=clock.unix_seconds)

    def failed(self, address: str) -> float | None:
        return self._buckets.take(address)

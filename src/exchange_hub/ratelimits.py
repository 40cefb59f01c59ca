"""Rate limits: requests per member, and failed authentications per client address.

Where the counts live (``build_limiters``, called by ``create_app``'s lifespan;
``deps`` consults the limiters; refusals are 429 with ``Retry-After``):

- ``HUB_REDIS_URL`` set: in Redis, through the ``limits`` library — shared by every node;
- otherwise, on PostgreSQL: in the table ``rate_limit_windows`` — shared by every node;
- otherwise (SQLite: the embedded hub, one process): token buckets in the process's memory.

The shared stores count **fixed windows**. A key's first request opens its
window (a minute for a member; ``HUB_AUTH_FAILURE_INTERVAL_SECONDS`` for an
address); the first N requests in it pass, the rest are refused until it
closes, ``Retry-After`` saying when. So N + 1 requests inside a minute, spread
over any number of nodes, get exactly one 429. The price of a fixed window: a
client that sends N just before its window closes and N just after gets 2N
through in a moment (a moving window would have to keep every request's time).
The in-memory buckets allow N a minute sustained, in bursts of a sixth of it
(members) or of N (addresses).

Time: the PostgreSQL store reads the hub's clock (``exchange_hub.clock``, which
tests pin). Redis keeps a window as a key's time to live, in Redis's own time:
pinning the hub's clock does not move it.

A shared store that fails (Redis unreachable, a database error) never fails the
request: this process's buckets answer instead, a warning is logged once per
outage, every check so answered is counted in ``/metrics``
(``hub_rate_limit_fallbacks_total{store=…}``), and the store is tried again
after ``PAUSE_SECONDS``. Meanwhile each node limits on its own (up to N per
node): refusing every request would turn an outage of a counter into an outage
of the exchange.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import redis
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from exchange_hub import clock
from exchange_hub import ratelimits_repository as repository
from exchange_hub.config import Settings
from exchange_hub.context import HubContext
from exchange_hub.db import make_sessionmaker, transaction
from exchange_hub.errors import TooManyRequests

log = logging.getLogger("exchange_hub.ratelimits")

PAUSE_SECONDS = 5.0
"""After a shared store failed, how long this process limits on its own before trying it again."""
REDIS_TIMEOUT_SECONDS = 0.5
"""Connect and read timeout towards Redis (``?socket_timeout=…`` in the URL overrides it)."""


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


# -- the shared stores ------------------------------------------------------------------------
class Windows(Protocol):
    """Fixed windows kept where every node counts them."""

    name: str
    """For logs and ``/metrics``: ``redis`` or ``postgresql``."""
    errors: tuple[type[Exception], ...]
    """What the store raises when it cannot answer."""

    def hit(self, scope: str, key: str, limit: int, seconds: int) -> float | None:
        """Count a request of ``key``: ``None`` while its window holds at most ``limit``,
        else the seconds until the window closes."""
        ...

    def close(self) -> None: ...


@cache
def _item(limit: int, seconds: int) -> RateLimitItem:
    return RateLimitItemPerSecond(limit, seconds)


class RedisWindows:
    """Windows in Redis: the ``limits`` library's fixed window (``INCRBY``, and ``EXPIRE``
    on a window's first request, in one Lua script: one round trip per check)."""

    name = "redis"
    errors: tuple[type[Exception], ...] = (redis.RedisError,)

    def __init__(self, url: str) -> None:
        # No retries (redis-py retries three times with back-off by default): a failing
        # Redis must cost a request one timeout at most, then the breaker in SharedLimits.
        self._pool = redis.ConnectionPool.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )  # fmt: skip
        self.storage = RedisStorage(url, connection_pool=self._pool, key_prefix="exchange-hub")
        self._limiter = FixedWindowRateLimiter(self.storage)
        self._client = redis.Redis(connection_pool=self._pool)

    def hit(self, scope: str, key: str, limit: int, seconds: int) -> float | None:
        item = _item(limit, seconds)
        if self._limiter.hit(item, scope, key):
            return None
        # The window's end is the key's time to live, in Redis's time: asked as such
        # (get_window_stats would turn it into this machine's wall-clock time).
        stored = self.storage.prefixed_key(item.key_for(scope, key))
        milliseconds: int = self._client.pttl(stored)  # type: ignore[assignment]  # sync client
        return max(milliseconds, 0) / 1000

    def close(self) -> None:
        self._pool.disconnect()


class DatabaseWindows:
    """Windows in the PostgreSQL table ``rate_limit_windows``: one upsert per check, on an
    autocommit connection (no BEGIN or COMMIT of its own), at the hub's clock."""

    name = "postgresql"
    errors: tuple[type[Exception], ...] = (SQLAlchemyError,)

    def __init__(self, engine: Engine) -> None:
        self._sessions = make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))

    def hit(self, scope: str, key: str, limit: int, seconds: int) -> float | None:
        now = clock.now()
        with self._sessions() as session:
            hits, ends_at = repository.hit(session, scope, key, now=now, seconds=seconds)
        return None if hits <= limit else (ends_at - now).total_seconds()

    def close(self) -> None:
        """Nothing of its own: the hub's engine is disposed with the hub."""


class SharedLimits:
    """A shared store, and this process's buckets standing in while it fails.

    ``count_fallback(store name)`` is called for each check answered locally;
    ``now`` (monotonic seconds) times the pause before the store is tried again.
    """

    def __init__(
        self, windows: Windows, count_fallback: Callable[[str], None] = lambda _: None, *,
        pause_seconds: float = PAUSE_SECONDS, now: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.windows, self._count_fallback = windows, count_fallback
        self._pause, self._now = pause_seconds, now
        self._retry_at = -math.inf
        self._failing = False

    def take(
        self, scope: str, key: str, limit: int, seconds: int, local: Callable[[str], float | None]
    ) -> float | None:
        """The store's answer for ``key`` (see ``Windows.hit``), or ``local``'s while it fails."""
        if self._now() >= self._retry_at:
            try:
                wait = self.windows.hit(scope, key, limit, seconds)
            except self.windows.errors as exc:
                self._failed(exc)
            else:
                self._answered()
                return wait
        self._count_fallback(self.windows.name)
        return local(key)

    def _failed(self, exc: Exception) -> None:
        self._retry_at = self._now() + self._pause
        if not self._failing:
            self._failing = True
            log.warning(
                "rate limits: the shared store (%s) failed (%s: %s); this process limits "
                "on its own, trying the store again every %.0f s",
                self.windows.name, type(exc).__name__, exc, self._pause,
            )  # fmt: skip

    def _answered(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("rate limits: the shared store (%s) answers again", self.windows.name)


# -- the limiters deps consults ---------------------------------------------------------------
class RateLimiter:
    """Token bucket per member, in this process: ``per_minute`` sustained, bursts of a sixth."""

    blocking = False
    """``check`` reads memory only: it may run on the event loop."""

    def __init__(self, per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self._buckets = TokenBuckets(self.rate, max(10.0, per_minute / 6.0), now)

    def wait(self, member: str) -> float | None:
        """Count a request of ``member``: ``None`` when it may go on, else the seconds to wait."""
        return self._buckets.take(member)

    def check(self, member: str) -> None:
        wait = self.wait(member)
        if wait is not None:
            raise TooManyRequests(
                f"rate limit of {self.per_minute} requests a minute exceeded",
                headers=retry_after(wait),
            )


class SharedRateLimiter(RateLimiter):
    """``per_minute`` requests per member in each fixed minute, counted by every node."""

    blocking = True
    """``check`` asks Redis or the database: run it in a worker thread."""

    def __init__(self, per_minute: int, shared: SharedLimits) -> None:
        super().__init__(per_minute)
        self.shared = shared

    def wait(self, member: str) -> float | None:
        return self.shared.take("member", member, self.per_minute, 60, super().wait)


class FailedAuthLimiter(Protocol):
    """Failed authentications per client address (issue 15, finding 9): in this process
    (``LocalFailedAuthLimiter``) or counted by every node (``SharedFailedAuthLimiter``)."""

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
        self.limit, self.interval_seconds = limit, interval_seconds
        self._buckets = TokenBuckets(limit / interval_seconds, limit, now=clock.unix_seconds)

    def failed(self, address: str) -> float | None:
        return self._buckets.take(address)


class SharedFailedAuthLimiter(LocalFailedAuthLimiter):
    """``limit`` failures per address in each fixed window of ``interval_seconds``,
    counted by every node."""

    def __init__(self, limit: int, interval_seconds: int, shared: SharedLimits) -> None:
        super().__init__(limit, interval_seconds)
        self.shared = shared

    def failed(self, address: str) -> float | None:
        local = super().failed
        return self.shared.take("address", address, self.limit, self.interval_seconds, local)


@dataclass
class Limiters:
    requests: RateLimiter
    failed_auth: FailedAuthLimiter
    shared: SharedLimits | None

    def close(self) -> None:
        if self.shared is not None:
            self.shared.windows.close()


def shared_windows(settings: Settings, engine: Engine) -> Windows | None:
    """Redis when ``HUB_REDIS_URL`` is set, else PostgreSQL's table, else none (SQLite)."""
    if settings.redis_url:
        return RedisWindows(settings.redis_url)
    if engine.dialect.name == "postgresql":
        return DatabaseWindows(engine)
    return None


def build_limiters(
    settings: Settings, engine: Engine, count_fallback: Callable[[str], None]
) -> Limiters:
    per_minute = settings.rate_limit_per_minute
    limit, interval = settings.auth_failure_limit, settings.auth_failure_interval_seconds
    windows = shared_windows(settings, engine)
    if windows is None:
        return Limiters(RateLimiter(per_minute), LocalFailedAuthLimiter(limit, interval), None)
    shared = SharedLimits(windows, count_fallback)
    return Limiters(
        SharedRateLimiter(per_minute, shared),
        SharedFailedAuthLimiter(limit, interval, shared),
        shared,
    )


def prune_job(hub: HubContext) -> dict[str, Any]:
    """Job ``ratelimits.prune``: delete the shared windows that have closed (PostgreSQL)."""
    if hub.engine.dialect.name != "postgresql":
        return {"pruned": 0}
    with transaction(hub.sessions) as session:
        return {"pruned": repository.delete_closed(session, clock.now())}

"""Rate limits: requests per member, and failed authentications per client address.

Token buckets kept in each process's memory; ``app.create_app`` builds the
limiters and ``deps`` consults them. Refusals are 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from exchange_hub import clock
from exchange_hub.errors import TooManyRequests


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

    def __init__(self, per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self._buckets = TokenBuckets(self.rate, max(10.0, per_minute / 6.0), now)

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

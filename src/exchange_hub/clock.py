"""The hub's one clock: every service, job, page and command reads "now" here.

Nothing else in ``src/`` calls ``datetime.now``, ``date.today`` or
``time.time`` (a test walks the tree), and no SQL asks the database for its
``now()``: times are written by the hub, so a database server on another clock
cannot disagree with it.

Tests move the clock with ``pin`` (the fixture ``clock`` in ``tests/``): by
default the pinned clock keeps ticking from the pinned moment, so durations
and the order of events stay real; ``tick=False`` freezes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    """Real time, or real time shifted to a pinned moment (tests, the demo's what-if)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        return datetime.now(UTC) + self._offset

    def pin(self, moment: datetime, *, tick: bool = True) -> None:
        if moment.tzinfo is None:
            raise ValueError("pin the clock to an aware datetime")
        moment = moment.astimezone(UTC)
        if tick:
            self._frozen, self._offset = None, moment - datetime.now(UTC)
        else:
            self._frozen, self._offset = moment, timedelta(0)

    def advance(self, delta: timedelta) -> None:
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta

    def reset(self) -> None:
        self._offset, self._frozen = timedelta(0), None

    @property
    def pinned(self) -> bool:
        return self._frozen is not None or self._offset != timedelta(0)


CLOCK = Clock()


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return CLOCK.now()


def today(zone: ZoneInfo = SHANGHAI) -> date:
    """Today's date in ``zone`` (the hub works in Asia/Shanghai)."""
    return CLOCK.now().astimezone(zone).date()


def unix_seconds() -> float:
    """Seconds since the epoch (request and push signature timestamps)."""
    return CLOCK.now().timestamp()


@contextmanager
def pinned(moment: datetime, *, tick: bool = True) -> Iterator[Clock]:
    """Run a block at ``moment``; the clock is back to real time afterwards."""
    CLOCK.pin(moment, tick=tick)
    try:
        yield CLOCK
    finally:
        CLOCK.reset()

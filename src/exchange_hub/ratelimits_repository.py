"""Queries of the shared rate-limit windows (``rate_limit_windows``, ``ratelimits``):
one upsert per check, and the pruning of closed windows. PostgreSQL only (SQLite
keeps its limits in the one process's memory). Nothing here commits: the store
runs them on an autocommit connection, one statement each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, case, delete, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from exchange_hub.db import rowcount
from exchange_hub.models import RateLimitWindow

_windows = RateLimitWindow.__table__


def _hit_statement() -> Any:
    """Built once (a check runs per request; building it took longer than running it)."""
    now, ends_at = (bindparam(name, type_=_windows.c.ends_at.type) for name in ("now", "ends_at"))
    closed = or_(_windows.c.ends_at <= now, _windows.c.ends_at > ends_at)
    statement = insert(_windows).values(
        scope=bindparam("scope"), key=bindparam("key"), ends_at=ends_at, hits=1
    )
    statement = statement.on_conflict_do_update(
        index_elements=[_windows.c.scope, _windows.c.key],
        set_={
            "hits": case((closed, 1), else_=_windows.c.hits + 1),
            "ends_at": case((closed, statement.excluded.ends_at), else_=_windows.c.ends_at),
        },
    )
    return statement.returning(_windows.c.hits, _windows.c.ends_at)


_HIT = _hit_statement()


def hit(
    session: Session, scope: str, key: str, *, now: datetime, seconds: int
) -> Row[int, datetime]:
    """Count one request of ``key`` in its current window: ``(hits, ends_at)`` after it.

    One atomic statement (``INSERT … ON CONFLICT DO UPDATE``): the row is locked
    while it is updated, so checks from every node at once are all counted. A
    window that has closed (``ends_at <= now``) opens anew at ``now``, and so
    does one that would end more than a window from now (the clock was set
    back), which would otherwise hold the key for as long as the clock jumped.
    Refused requests are counted too: the window still closes on time.
    """
    ends_at = now + timedelta(seconds=seconds)
    values = {"scope": scope, "key": key, "now": now, "ends_at": ends_at}
    row: Row[int, datetime] = session.execute(_HIT, values).one()
    return row


def delete_closed(session: Session, now: datetime) -> int:
    """Delete the windows closed by ``now``; how many went.

    No index on ``ends_at``: it would make every check that opens a window a
    non-HOT update; a scan of a table of one row per active member and address
    is cheap at the pace of a job.
    """
    return rowcount(session.execute(delete(RateLimitWindow).where(RateLimitWindow.ends_at <= now)))

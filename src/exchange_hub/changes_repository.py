"""Queries of the change feed (``changes``): the journal lock, reading a county's feed,
and the server-side appends of batches. Nothing here commits; ``changes.py``
appends queued rows at commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Text, cast, func, insert, or_, select, text
from sqlalchemy.orm import Session

from exchange_hub.models.change import Change

CHANGE_COLUMNS = ("at", "object_type", "object_id", "action", "region_a", "region_b", "summary")


def take_advisory_lock(session: Session, key: int) -> None:
    """PostgreSQL's transaction advisory lock ``key`` (re-entrant within the transaction).
    SQLite: the transaction already holds the write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def changes_for(session: Session, county: str, *, since: int, limit: int) -> Sequence[Change]:
    query = (
        select(Change)
        .where(Change.seq > since, or_(Change.region_a == county, Change.region_b == county))
        .order_by(Change.seq)
        .limit(limit)
    )
    return session.scalars(query).all()


# -- server-side appends, for batches ----------------------------------------------
def append_selected(session: Session, rows: Select[Any]) -> None:
    """Append the change-feed rows ``rows`` selects (``CHANGE_COLUMNS``, in that
    order), in the order it returns them, with one INSERT … SELECT. The caller
    holds the feed lock (``lock_feed``)."""
    session.execute(insert(Change.__table__).from_select(list(CHANGE_COLUMNS), rows))


def id_text(session: Session, column: Any) -> Any:
    """An id column as ``str(uuid)`` (SQLite stores it as 32 hex digits without dashes)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column, Text)
    parts = [func.substr(column, start, length) for start, length in _UUID_PARTS]
    return func.lower(parts[0] + "-" + parts[1] + "-" + parts[2] + "-" + parts[3] + "-" + parts[4])


_UUID_PARTS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))


def json_object(session: Session, *names_and_values: Any) -> Any:
    """A change summary built in SQL from alternating names and values."""
    postgres = session.get_bind().dialect.name == "postgresql"
    build = func.json_build_object if postgres else func.json_object
    return build(*names_and_values)

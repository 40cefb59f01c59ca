"""Queries of the change feed (``changes``): the journal lock, reading a county's feed,
and the server-side appends of batches. Nothing here commits; ``changes.py``
appends queued rows at commit."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Select,
    Text,
    TextClause,
    bindparam,
    cast,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from exchange_hub.models.change import Change

CHANGE_COLUMNS = ("at", "object_type", "object_id", "action", "region_a", "region_b", "summary")


def take_advisory_lock(session: Session, key: int) -> None:
    """PostgreSQL's transaction advisory lock ``key`` (re-entrant within the transaction).
    SQLite: the transaction already holds the write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


# Rows per statement: 8 parameters each, well under PostgreSQL's 65,535 per statement.
APPEND_CHUNK = 1000


def append_rows(session: Session, rows: Sequence[dict[str, Any]], *, lock_key: int) -> None:
    """Append ``rows`` (``CHANGE_COLUMNS``) to the feed in their order.

    PostgreSQL: one ``INSERT … SELECT`` per chunk that joins the transaction
    advisory lock ``lock_key`` in its FROM clause, so the lock is held before
    the first ``seq`` is drawn, without a statement of its own (the insert reads
    nothing, so its snapshot predating the wait does not matter). ``ORDER BY``
    the rows' position keeps ``seq`` in the order the changes were recorded.
    The statement is a text kept per row count (``_append_statement``): a
    ``VALUES`` construct with its data is not cacheable and was compiled again at
    every commit (~0.7 ms of CPU for two rows, issue 18).
    SQLite: one executemany; the transaction already holds the write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(Change), list(rows))
        return
    for start in range(0, len(rows), APPEND_CHUNK):
        chunk = rows[start : start + APPEND_CHUNK]
        params: dict[str, Any] = {"lock_key": lock_key}
        for i, row in enumerate(chunk):
            params.update({f"{c}_{i}": row[c] for c in CHANGE_COLUMNS})
        session.execute(_append_statement(len(chunk)), params)


@lru_cache(maxsize=64)
def _append_statement(n: int) -> TextClause:
    """``INSERT … SELECT`` of ``n`` rows joined to the journal lock, typed binds (the
    timestamp in UTC, the summary as JSON) so it compiles once per row count."""
    table = Change.__table__
    placeholders = ", ".join(
        f"({i}, " + ", ".join(f":{c}_{i}" for c in CHANGE_COLUMNS) + ")" for i in range(n)
    )
    columns = ", ".join(CHANGE_COLUMNS)
    selected = ", ".join(f"CAST(pending.{c} AS {_SQL_TYPES[c]})" for c in CHANGE_COLUMNS)
    statement = text(
        f"INSERT INTO changes ({columns}) SELECT {selected} "
        f"FROM (VALUES {placeholders}) AS pending (position, {columns}) "
        "JOIN pg_advisory_xact_lock(CAST(:lock_key AS BIGINT)) AS journal_lock ON true "
        "ORDER BY pending.position"
    )
    binds = [bindparam(f"{c}_{i}", type_=table.c[c].type) for i in range(n) for c in _TYPED]
    return statement.bindparams(*binds)


# The columns' SQL types, as the old construct cast them; the typed binds (at, summary)
# go through the columns' own types (UTC timestamps; JSON with the engine's serializer).
_SQL_TYPES = {"at": "TIMESTAMP WITH TIME ZONE", "object_type": "VARCHAR(20)",
              "object_id": "VARCHAR(40)", "action": "VARCHAR(30)", "region_a": "VARCHAR(6)",
              "region_b": "VARCHAR(6)", "summary": "JSON"}  # fmt: skip
_TYPED = ("at", "summary")


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

"""Queries of the change feed (``changes``): the journal lock, reading a county's feed,
and the server-side appends of batches. Nothing here commits; ``changes.py``
appends queued rows at commit."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Select,
    Table,
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
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from exchange_hub.models import MessageEvent
from exchange_hub.models.change import Change

CHANGE_COLUMNS = ("at", "object_type", "object_id", "action", "region_a", "region_b", "summary")


def take_advisory_lock(session: Session, key: int) -> None:
    """PostgreSQL's transaction advisory lock ``key`` (re-entrant within the transaction).
    SQLite: the transaction already holds the write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


# Rows per statement: 8 parameters each (7 more for an event), well under PostgreSQL's
# 65,535 per statement.
APPEND_CHUNK = 1000
EVENT_COLUMNS = ("message_id", "at", "actor_member_id", "actor", "from_state", "to_state", "detail")
"""A ``message_events`` row, written with the change-feed entry of the same transition."""


def append_rows(
    session: Session,
    rows: Sequence[dict[str, Any]],
    *,
    lock_key: int,
    events: Sequence[dict[str, Any] | None] = (),
) -> None:
    """Append ``rows`` (``CHANGE_COLUMNS``) to the feed in their order, and insert the
    message events (``EVENT_COLUMNS``) of the same transitions: ``events[i]``, when
    given and not ``None``, is the event of ``rows[i]``.

    PostgreSQL: one ``INSERT … SELECT`` per chunk that joins the transaction
    advisory lock ``lock_key`` in its FROM clause, so the lock is held before
    the first ``seq`` is drawn, without a statement of its own (the insert reads
    nothing, so its snapshot predating the wait does not matter). ``ORDER BY``
    the rows' position keeps ``seq`` in the order the changes were recorded.
    The events of a chunk go in with it, as a data-modifying ``WITH`` (issue
    18): their messages are locked or inserted by this transaction already
    (every transition loads its message ``FOR UPDATE``), so the foreign-key
    check waits for nobody while the lock is held.
    The statement is a text kept per row count (``_append_statement``): a
    ``VALUES`` construct with its data is not cacheable and was compiled again at
    every commit (~0.7 ms of CPU for two rows, issue 18).
    SQLite: one executemany each; the transaction already holds the write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        insert_events(session, [event for event in events if event is not None])
        session.execute(insert(Change), list(rows))
        return
    for start in range(0, len(rows), APPEND_CHUNK):
        chunk = rows[start : start + APPEND_CHUNK]
        with_events = [e for e in events[start : start + APPEND_CHUNK] if e is not None]
        params: dict[str, Any] = {"lock_key": lock_key}
        for i, row in enumerate(chunk):
            params.update({f"{c}_{i}": row[c] for c in CHANGE_COLUMNS})
        for i, event in enumerate(with_events):
            params.update({f"event_{c}_{i}": event[c] for c in EVENT_COLUMNS})
        session.execute(_append_statement(len(chunk), len(with_events)), params)


def insert_events(session: Session, events: Sequence[dict[str, Any]]) -> None:
    """Insert message events (``EVENT_COLUMNS``) in their order (executemany)."""
    if events:
        session.execute(insert(MessageEvent), list(events))


@lru_cache(maxsize=64)
def _append_statement(n: int, events: int = 0) -> TextClause:
    """``INSERT … SELECT`` of ``n`` rows joined to the journal lock, typed binds (the
    timestamp in UTC, the summary as JSON) so it compiles once per row count; with
    ``events``, a ``WITH`` before it inserts that many message events."""
    changes = _insert_values(Change.__table__, CHANGE_COLUMNS, "pending", "", n)
    statement = (
        f"{changes[0]} "
        "JOIN pg_advisory_xact_lock(CAST(:lock_key AS BIGINT)) AS journal_lock ON true "
        f"{changes[1]}"
    )
    binds = [bindparam(f"{c}_{i}", type_=Change.__table__.c[c].type)
             for i in range(n) for c in ("at", "summary")]  # fmt: skip
    if events:
        written = _insert_values(MessageEvent.__table__, EVENT_COLUMNS, "event", "event_", events)
        statement = f"WITH written_events AS ({written[0]} {written[1]}) {statement}"
        binds += [bindparam(f"event_{c}_{i}", type_=MessageEvent.__table__.c[c].type)
                  for i in range(events) for c in _TYPED_EVENT_COLUMNS]  # fmt: skip
    return text(statement).bindparams(*binds)


def _insert_values(
    table: Table, columns: Sequence[str], alias: str, prefix: str, n: int
) -> tuple[str, str]:
    """``INSERT INTO table (columns) SELECT … FROM (VALUES …) AS alias`` of ``n`` rows of
    binds ``:{prefix}{column}_{i}``, each cast to its column's type; and the ``ORDER BY``
    that keeps the rows' order (their ids and ``seq`` are drawn in it)."""
    placeholders = ", ".join(
        f"({i}, " + ", ".join(f":{prefix}{c}_{i}" for c in columns) + ")" for i in range(n)
    )
    names = ", ".join(columns)
    selected = ", ".join(f"CAST({alias}.{c} AS {_sql_type(table.c[c])})" for c in columns)
    head = (
        f"INSERT INTO {table.name} ({names}) SELECT {selected} "
        f"FROM (VALUES {placeholders}) AS {alias} (position, {names})"
    )
    return head, f"ORDER BY {alias}.position"


def _sql_type(column: Column[Any]) -> str:
    return str(column.type.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


# Binds typed by their columns (UTC timestamps; JSON with the engine's serializer; UUIDs).
_TYPED_EVENT_COLUMNS = ("message_id", "at", "actor_member_id", "detail")


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

"""The queries of the re-encryption job (``reencrypt``): its progress rows, and the
rows of any table still on another key than the current ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, and_, bindparam, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange_hub.models import ReencryptProgress


def progress_rows(session: Session) -> Sequence[ReencryptProgress]:
    return session.scalars(select(ReencryptProgress).order_by(ReencryptProgress.table_name)).all()


def ensure_progress(session: Session, table_name: str, target: str, now: datetime) -> None:
    """The table's progress row, made once (a worker that loses the race finds it made)."""
    if session.get(ReencryptProgress, table_name) is not None:
        return
    try:
        with session.begin_nested():
            session.add(ReencryptProgress(
                table_name=table_name, target=target, after=None, done=0, total=0, passes=0,
                finished_at=None, updated_at=now,
            ))  # fmt: skip
    except IntegrityError:
        pass


def claim_progress(session: Session, table_name: str) -> ReencryptProgress | None:
    """The table's progress row, locked for this transaction; ``None`` when another
    worker holds it (PostgreSQL ``SKIP LOCKED``; SQLite has one writer at a time)."""
    query = (
        select(ReencryptProgress)
        .where(ReencryptProgress.table_name == table_name)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).first()


def stale_condition(
    table: Table, ciphers: Sequence[str], indexes: Sequence[str], cipher: str, index: str
) -> ColumnElement[bool]:
    """A row with any ciphertext not made with prefix ``cipher`` (``<alg>.<kid>.``) or any
    blind index not made with prefix ``index``; missing values count as current."""
    terms = [
        and_(table.c[name].is_not(None), table.c[name].not_like(f"{prefix}%"))
        for names, prefix in ((ciphers, cipher), (indexes, index))
        for name in names
    ]
    return or_(false(), *terms)


def stale_batch(
    session: Session, table: Table, keys: Sequence[str], columns: Sequence[str],
    condition: ColumnElement[bool], *, after: Sequence[Any] | None, limit: int,
) -> list[Row[Any]]:  # fmt: skip
    """The next ``limit`` stale rows after the primary key ``after``, by primary key."""
    key_columns = [table.c[k] for k in keys]
    query = select(*key_columns, *(table.c[c] for c in columns)).where(condition)
    if after is not None:
        query = query.where(_after(key_columns, after))
    return list(session.execute(query.order_by(*key_columns).limit(limit)).all())


def _after(key_columns: list[Any], after: Sequence[Any]) -> ColumnElement[bool]:
    if len(key_columns) == 1:
        return key_columns[0] > after[0]  # type: ignore[no-any-return]
    first, second = key_columns
    return or_(first > after[0], and_(first == after[0], second > after[1]))


def count_stale(session: Session, table: Table, condition: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(table).where(condition)) or 0)


def rewrite_rows(
    session: Session, table: Table, keys: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Write each row's new values where the row still holds the old ones (``old_<col>``):
    a row a request changed meanwhile is left for the next pass, never overwritten."""
    if not rows:
        return
    columns = [c for c in rows[0] if c not in keys and not c.startswith("old_")]
    statement = (
        update(table)
        .where(*(table.c[k] == bindparam(f"k_{k}") for k in keys))
        .where(*(table.c[c].is_not_distinct_from(bindparam(f"old_{c}")) for c in columns))
        .values({c: bindparam(f"n_{c}") for c in columns})
    )
    params = [
        {**{f"k_{k}": row[k] for k in keys}, **{f"old_{c}": row[f"old_{c}"] for c in columns},
         **{f"n_{c}": row[c] for c in columns}}
        for row in rows
    ]  # fmt: skip
    session.execute(statement, params)

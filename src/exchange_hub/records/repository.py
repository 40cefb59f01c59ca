"""Record queries, and the bulk writes of the batch path.

Bulk writes bypass the ORM (docs/ARCHITECTURE.md): binary ``COPY`` through
the psycopg connection on PostgreSQL, Core ``insert()`` executemany on SQLite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from exchange_hub.models import Change, Record, RecordVersion

RECORDS: Table = Record.__table__  # type: ignore[assignment]
VERSIONS: Table = RecordVersion.__table__  # type: ignore[assignment]
CHANGES: Table = Change.__table__  # type: ignore[assignment]

RECORD_COLUMNS = tuple(c.name for c in RECORDS.columns)
VERSION_COLUMNS = ("record_id", "version", "action", "at", "actor", "data_key_id", "snapshot")
CHANGE_COLUMNS = ("at", "object_type", "object_id", "action", "region_a", "region_b", "summary")

# PostgreSQL type names for binary COPY, column by column.
_PG_TYPES = {"Uuid": "uuid", "Date": "date", "Boolean": "bool", "Integer": "int4",
             "UTCDateTime": "timestamptz", "BigInteger": "int8", "JSON": "json"}  # fmt: skip


def get(session: Session, record_id: uuid.UUID) -> Record | None:
    return session.get(Record, record_id)


def find_active(
    session: Session, *, registering_region: str, kind: str, id_indexes: Sequence[str]
) -> Record | None:
    """The active record of a person registered by a county (at most one)."""
    return session.scalars(
        select(Record).where(
            Record.registering_region == registering_region,
            Record.kind == kind,
            Record.status == "active",
            Record.id_index.in_(id_indexes),
        )
    ).first()


def by_id_indexes(session: Session, id_indexes: Sequence[str]) -> Sequence[Record]:
    query = select(Record).where(Record.id_index.in_(id_indexes))
    return session.scalars(query.order_by(Record.updated_at.desc())).all()


def by_name_indexes(session: Session, name_indexes: Sequence[str]) -> Sequence[Record]:
    query = select(Record).where(Record.name_index.in_(name_indexes))
    return session.scalars(query.order_by(Record.updated_at.desc()).limit(200)).all()


def newest_active_hukou(session: Session, id_indexes: Sequence[str]) -> str | None:
    return session.scalar(
        select(Record.hukou_region)
        .where(
            Record.id_index.in_(id_indexes),
            Record.status == "active",
            Record.hukou_region.is_not(None),
        )
        .order_by(Record.updated_at.desc())
        .limit(1)
    )


def active_outflow_exists(session: Session, id_indexes: Sequence[str], origin: str) -> bool:
    found = session.scalar(
        select(Record.id)
        .where(
            Record.id_index.in_(id_indexes),
            Record.kind == "outflow",
            Record.status == "active",
            Record.registering_region == origin,
        )
        .limit(1)
    )
    return found is not None


def versions_of(session: Session, record_id: uuid.UUID) -> Sequence[RecordVersion]:
    query = select(RecordVersion).where(RecordVersion.record_id == record_id)
    return session.scalars(query.order_by(RecordVersion.version)).all()


def active_in_chunk(
    session: Session, registering_region: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Row[Any]]:
    """Active records of a county among (kind, id_index) pairs, whole rows, by pair."""
    by_index: dict[str, set[str]] = {}
    for kind, index in keys:
        by_index.setdefault(index, set()).add(kind)
    if not by_index:
        return {}
    rows = session.execute(
        select(RECORDS).where(
            RECORDS.c.registering_region == registering_region,
            RECORDS.c.status == "active",
            RECORDS.c.id_index.in_(list(by_index)),
        )
    ).all()
    return {(r.kind, r.id_index): r for r in rows if r.kind in by_index[r.id_index]}


def update_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Overwrite whole records by id (executemany)."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != "id"]
    statement = (
        update(RECORDS)
        .where(RECORDS.c.id == _bind("b_id"))
        .values({c: _bind(f"b_{c}") for c in columns})
    )
    session.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])


def _bind(name: str) -> Any:
    return bindparam(name)


def reencrypt_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        columns = [c for c in rows[0] if c != "id"]
        statement = (
            update(table)
            .where(table.c.id == _bind("b_id"))
            .values({c: _bind(f"b_{c}") for c in columns})
        )
        session.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])


def not_on_key(
    session: Session, table: Table, kid: str, *, after: Any, limit: int
) -> list[Row[Any]]:
    """Rows of ``table`` encrypted with another data key than ``kid``, by id."""
    query = select(table).where(table.c.data_key_id != kid)
    if after is not None:
        query = query.where(table.c.id > after)
    return list(session.execute(query.order_by(table.c.id).limit(limit)).all())


# -- bulk insert -----------------------------------------------------------------
def bulk_insert(
    session: Session, table: Table, columns: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    """Insert many rows: binary COPY on PostgreSQL, Core executemany on SQLite."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy(session, table, columns, rows)
    else:
        session.execute(insert(table), rows)


def _copy(
    session: Session, table: Table, columns: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    raw = session.connection().connection.driver_connection
    types = [_pg_type(table, name) for name in columns]
    pick = itemgetter(*columns)
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
        copy.set_types(types)
        for row in rows:
            copy.write_row(pick(row))


def _pg_type(table: Table, name: str) -> str:
    type_name = type(table.c[name].type).__name__
    return _PG_TYPES.get(type_name, "text")

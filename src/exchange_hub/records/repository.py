"""Record queries, and the bulk writes of the batch path.

Bulk writes bypass the ORM (docs/ARCHITECTURE.md): binary ``COPY`` through
the psycopg connection on PostgreSQL, Core ``insert()`` executemany on SQLite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import Any

import psycopg
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    any_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from exchange_hub import changes_repository as changes
from exchange_hub.models import Record, RecordVersion
from exchange_hub.models.base import UTCDateTime
from exchange_hub.models.record import any_status, is_active

RECORDS: Table = Record.__table__
VERSIONS: Table = RecordVersion.__table__

RECORD_COLUMNS = tuple(c.name for c in RECORDS.columns)
VERSION_COLUMNS = ("record_id", "version", "action", "at", "actor", "data_key_id", "snapshot")
# Binary COPY framing (PostgreSQL manual, COPY, "Binary Format"): the signature,
# a flags field and a header-extension length (both zero), and the end marker.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"

# PostgreSQL type names for binary COPY, column by column.
_PG_TYPES = {"Uuid": "uuid", "Date": "date", "Boolean": "bool", "Integer": "int4",
             "UTCDateTime": "timestamptz", "BigInteger": "int8", "JSON": "json"}  # fmt: skip


# The advisory locks on a county's record writes (PostgreSQL's two-key form):
# this key space, and the county code as the second key.
COUNTY_WRITES_LOCK = 724_200_102


def lock_county_writes(session: Session, county: str, *, alone: bool) -> None:
    """Take the county's record-write lock for the rest of the transaction:
    ``alone`` for a batch, shared for single writes (see ``records/service.py``,
    ``wait_for_county_batch``). SQLite: the transaction's write lock already
    serialises every writer."""
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if alone else "pg_advisory_xact_lock_shared"
    session.execute(
        text(f"SELECT {function}(:space, :county)"),
        {"space": COUNTY_WRITES_LOCK, "county": int(county)},
    )


# The regions a record names; a caller sees the record when one of them lies in its scope.
PERSON_REGIONS = ("registering_region", "other_region", "hukou_region", "residence_region")


def visible_within(prefix: str) -> ColumnElement[bool]:
    """The one scope rule of every read of records (SPEC §6): the record names a
    region whose code starts with ``prefix`` ("" is the nation). The prefix comes
    from ``scope.person_scope``; it is digits only, so LIKE needs no escape."""
    if not prefix:
        return true()
    return or_(*(RECORDS.c[name].startswith(prefix) for name in PERSON_REGIONS))


def get(session: Session, record_id: uuid.UUID, *, within: str) -> Record | None:
    """The record, if it is visible within the scope ``within`` (else None, as if missing)."""
    query = select(Record).where(Record.id == record_id, visible_within(within))
    return session.scalars(query).first()


def find_active(
    session: Session, *, registering_region: str, kind: str, id_indexes: Sequence[str]
) -> Record | None:
    """The active record of a person registered by a county (at most one)."""
    return session.scalars(
        select(Record).where(
            Record.registering_region == registering_region,
            Record.kind == kind,
            is_active(Record.status),
            Record.id_index.in_(id_indexes),
        )
    ).first()


def by_id_indexes(session: Session, id_indexes: Sequence[str], *, within: str) -> Sequence[Record]:
    """Every record of a person visible within the scope ``within``, whatever its status."""
    query = select(Record).where(
        any_status(Record.status, Record.id_index.in_(id_indexes)), visible_within(within)
    )
    return session.scalars(query.order_by(Record.updated_at.desc())).all()


def by_name_indexes(
    session: Session, name_indexes: Sequence[str], *, within: str
) -> Sequence[Record]:
    """Records with the name, visible within the scope ``within``, newest 200."""
    query = select(Record).where(Record.name_index.in_(name_indexes), visible_within(within))
    return session.scalars(query.order_by(Record.updated_at.desc()).limit(200)).all()


def newest_active_hukou(session: Session, id_indexes: Sequence[str]) -> str | None:
    return session.scalar(
        select(Record.hukou_region)
        .where(
            Record.id_index.in_(id_indexes),
            is_active(Record.status),
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
            is_active(Record.status),
            Record.registering_region == origin,
        )
        .limit(1)
    )
    return found is not None


def _index_in(session: Session, indexes: Sequence[str]) -> Any:
    """``id_index`` among many values. On PostgreSQL one comma-joined text parameter
    that the server splits (blind indexes hold no comma): a batch chunk's thousands
    of values would otherwise be encoded one by one as an array in Python."""
    if session.get_bind().dialect.name == "postgresql":
        joined = bindparam("indexes", ",".join(indexes), type_=Text)
        return RECORDS.c.id_index == any_(func.string_to_array(joined, literal(",")))
    return RECORDS.c.id_index.in_(list(indexes))


def newest_active_hukous(
    session: Session, id_indexes: Sequence[str]
) -> list[Row[str, str, datetime]]:
    """(id_index, hukou_region, updated_at) of the active records naming a hukou_region."""
    query = select(RECORDS.c.id_index, RECORDS.c.hukou_region, RECORDS.c.updated_at).where(
        _index_in(session, id_indexes),
        is_active(RECORDS.c.status),
        RECORDS.c.hukou_region.is_not(None),
    )
    return list(session.execute(query).all())


def active_outflow_regions(session: Session, id_indexes: Sequence[str]) -> list[Row[str, str]]:
    """(id_index, registering_region) of the active outflow records among the indexes."""
    query = select(RECORDS.c.id_index, RECORDS.c.registering_region).where(
        _index_in(session, id_indexes),
        RECORDS.c.kind == "outflow",
        is_active(RECORDS.c.status),
    )
    return list(session.execute(query).all())


def versions_of(session: Session, record_id: uuid.UUID) -> Sequence[RecordVersion]:
    query = select(RecordVersion).where(RecordVersion.record_id == record_id)
    return session.scalars(query.order_by(RecordVersion.version)).all()


def active_in_chunk(
    session: Session, registering_region: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Row[Any]]:
    """Active records of a county among (kind, id_index) pairs, by pair: id,
    kind, id_index, content_index and version only (whole rows: ``rows_by_id``).

    Served by the partial unique index on (id_index, kind, registering_region)
    of active records; the county is filtered here, not in SQL, or the planner
    may range-scan the county's whole part of ``ix_records_county_updated``
    for every chunk instead (its generic plan cannot see how few rows the
    indexes select).
    """
    by_index: dict[str, set[str]] = {}
    for kind, index in keys:
        by_index.setdefault(index, set()).add(kind)
    if not by_index:
        return {}
    names = ("id", "kind", "id_index", "content_index", "version", "registering_region")
    query = select(*(RECORDS.c[n] for n in names)).where(
        _index_in(session, list(by_index)), is_active(RECORDS.c.status)
    )
    return {
        (r.kind, r.id_index): r
        for r in session.execute(query)
        if r.registering_region == registering_region and r.kind in by_index[r.id_index]
    }


def rows_by_id(session: Session, ids: Sequence[uuid.UUID]) -> list[Row[Any]]:
    if not ids:
        return []
    return list(session.execute(select(RECORDS).where(RECORDS.c.id.in_(ids))).all())


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


def append_batch_changes(session: Session, *, county: str, at: datetime, actor: str) -> None:
    """One change-feed row per record a batch created or updated, written server-side."""
    action = case((RECORDS.c.version == 1, literal("created")), else_=literal("updated"))
    rows = select(
        bindparam("at", at, type_=UTCDateTime),
        literal("record"),
        changes.id_text(session, RECORDS.c.id),
        action,
        RECORDS.c.registering_region,
        RECORDS.c.other_region,
        changes.json_object(session, "kind", RECORDS.c.kind, "version", RECORDS.c.version),
    ).where(
        RECORDS.c.registering_region == county,
        RECORDS.c.status == "active",
        RECORDS.c.updated_at == bindparam("at_filter", at, type_=UTCDateTime),
        RECORDS.c.updated_by == actor,
    )
    changes.append_selected(session, rows)


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
    raw = _driver_connection(session)
    types = [pg_type(table, name) for name in columns]
    pick = itemgetter(*columns)
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with (
        _as_sqlalchemy_errors(sql),
        raw.cursor() as cursor,
        cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy,
    ):
        # The queued writer sends to the server from its own thread while we build rows.
        copy.set_types(types)
        for row in rows:
            copy.write_row(pick(row))


def _driver_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's, for COPY (PostgreSQL only)."""
    raw = session.connection().connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"COPY needs a psycopg connection, not {type(raw).__name__}")
    return raw


def copy_encoded(session: Session, table: Table, columns: Sequence[str], rows: list[bytes]) -> None:
    """Binary COPY of rows already encoded (``records/checking.py``), PostgreSQL only."""
    raw = _driver_connection(session)
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with _as_sqlalchemy_errors(sql), raw.cursor() as cursor, cursor.copy(sql) as copy:
        copy.write(COPY_SIGNATURE)
        for start in range(0, len(rows), 1_000):
            copy.write(b"".join(rows[start : start + 1_000]))
        copy.write(COPY_TRAILER)


@contextmanager
def _as_sqlalchemy_errors(sql: str) -> Iterator[None]:
    """COPY runs on the driver's connection, under SQLAlchemy: its errors are
    raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``, …), which
    the app answers as problems (409, 503) like any other statement's."""
    try:
        yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def pg_type(table: Table, name: str) -> str:
    type_name = type(table.c[name].type).__name__
    return _PG_TYPES.get(type_name, "text")


RECORD_COPY_TYPES = tuple(pg_type(RECORDS, name) for name in RECORD_COLUMNS)


def has_records(session: Session) -> bool:
    """Whether the hub holds any record at all."""
    return session.scalar(select(func.count()).select_from(Record)) != 0

"""Engines and sessions. The request or job boundary commits; services only flush."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for the write lock
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout ran out


def driver_url(url: str) -> str:
    """Map the operator's plain URL to the driver the hub uses (psycopg 3, pysqlite)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(engine: Engine, *, read_only: bool = False) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE; for reading, a deferred BEGIN and no writes.

    A deferred SQLite transaction that reads and then writes fails with
    SQLITE_BUSY when another writer committed in between (WAL snapshot), and
    no busy timeout helps; taking the write lock at BEGIN avoids it. A reading
    engine never writes (``query_only``), so its transactions begin deferred:
    they read a snapshot beside the writer instead of queueing for its lock.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql(begin)


def make_engine(
    url: str, *, pool_size: int = 20, read_only: bool = False, pooler: str = "none"
) -> Engine:
    """The engine of ``url``; ``read_only`` for SQLite's reading engine (see above);
    ``pooler="transaction"`` behind PgBouncer's transaction pooling: psycopg prepares no
    statement on the server (``prepare_threshold=None``), since the next transaction may
    run on another server connection that never saw it (PgBouncer before 1.21)."""
    full = driver_url(url)
    if full.startswith("sqlite"):
        database = make_url(full).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(full, connect_args=connect)
        _configure_sqlite(engine, read_only=read_only)
        return engine
    connect_args: dict[str, Any] = {"prepare_threshold": None} if pooler == "transaction" else {}
    # A reading engine (HUB_READ_DATABASE_URL, a streaming replica) answers each request
    # from one snapshot: figures never mix rows replayed at different moments.
    reading: dict[str, Any] = (
        {"isolation_level": "REPEATABLE READ", "execution_options": {"postgresql_readonly": True}}
        if read_only else {}
    )  # fmt: skip
    return create_engine(
        full, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=10,
        connect_args=connect_args, **reading,
    )  # fmt: skip


def standby_lag_seconds(session: Session, now: datetime) -> float:
    """How far the data ``session`` reads lags behind ``now`` (the hub's clock), in
    seconds: 0 on a primary, on SQLite, and on a standby that has replayed all it
    received; else the time since the last transaction it replayed committed. The
    database is never asked for the time (the hub's clock is the one clock): the
    replayed commit's timestamp is compared with ``now``."""
    if session.get_bind().dialect.name != "postgresql":
        return 0.0
    row = session.execute(
        text(
            "SELECT pg_is_in_recovery() AND pg_last_wal_receive_lsn() <> pg_last_wal_replay_lsn(),"
            " pg_last_xact_replay_timestamp()"
        )
    ).one()
    lagging, replayed_at = bool(row[0]), row[1]
    if not lagging or not isinstance(replayed_at, datetime):
        return 0.0
    return max(0.0, (now - replayed_at).total_seconds())


def data_moment(session: Session, asked: datetime | None, now: datetime) -> datetime:
    """The moment an answer read through ``session`` is as of: ``asked`` (or ``now``), but
    never later than the data a lagging standby has replayed (``standby_lag_seconds``)."""
    reached = now - timedelta(seconds=standby_lag_seconds(session, now))
    return min(asked, reached) if asked is not None else reached


def hold_transaction_lock(connection: Connection, key: int) -> None:
    """PostgreSQL's transaction advisory lock ``key``: waits for it, holds it until the
    connection's transaction ends. SQLite: nothing (its one writer lock serialises)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def ping(connection: Connection) -> None:
    """A round trip to the database (``SELECT 1``); raises SQLAlchemy's errors."""
    connection.execute(text("SELECT 1"))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for jobs and the CLI: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def lock_wait(session: Session, timeout: str) -> Iterator[None]:
    """Statements inside wait at most ``timeout`` (``'3s'``) for a lock, then fail
    with ``OperationalError`` (``is_lock_timeout``). PostgreSQL only: SQLite
    waits for its one writer lock by the connection's busy timeout.

    The limit is undone when the block ends; if the block fails, the
    transaction or savepoint it ran in is rolled back, which undoes it too.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text(f"SET LOCAL lock_timeout = '{timeout}'"))
    yield
    if postgres:
        session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))


def is_lock_timeout(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """The rows an UPDATE or DELETE run by ``Session.execute`` matched: the session
    types what it returns as a ``Result``; for these statements it is a ``CursorResult``."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"a {type(result).__name__} has no row count")
    return result.rowcount

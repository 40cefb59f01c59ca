"""Several nodes running ``exchange-hub migrate`` at once on a fresh database (issue 18).

Each node's prestart migrates; without a lock two of them both create
``alembic_version`` and the tables, and the second fails half-way. The migrations
hold a transaction-scoped advisory lock (``migrations_util.MIGRATION_LOCK``) on their
own direct connection, so the second waits, then finds the schema current.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from exchange_hub.config import Settings
from exchange_hub.migrations_util import MIGRATION_LOCK, alembic_config
from tests.fixtures.database import postgres_admin_url

HUB = Path(sys.executable).parent / "exchange-hub"


@pytest.fixture
def fresh_database() -> Iterator[str]:
    admin = postgres_admin_url()
    if not admin:
        pytest.skip("advisory locks are PostgreSQL's: set HUB_TEST_DATABASE_URL")
    name = f"hub_migrate_{uuid.uuid4().hex[:10]}"
    plain = make_url(admin).set(drivername="postgresql")
    admin_dsn = plain.render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    yield plain.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def _migrate(url: str, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HUB_DATABASE_URL": url, "HUB_DATA_DIR": str(data_dir)}
    return subprocess.Popen(
        [str(HUB), "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def _waiting_on_the_lock(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND objid = %s",
            (MIGRATION_LOCK,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_two_migrations_at_once_take_turns(fresh_database: str, tmp_path: Path) -> None:
    # The test holds the lock first, so both migrations are surely under way together.
    holder = psycopg.connect(fresh_database, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        runs = [_migrate(fresh_database, tmp_path / f"node{n}") for n in (1, 2)]
        deadline = time.monotonic() + 60
        while _waiting_on_the_lock(fresh_database) < 2:
            assert all(run.poll() is None for run in runs), [r.communicate() for r in runs]
            assert time.monotonic() < deadline, "the migrations never queued on the lock"
            time.sleep(0.1)
        tables = holder.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        assert tables == (0,), "a migration ran without the lock"
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        holder.close()
    outputs = [run.communicate(timeout=180)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    head = _head()
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]


def test_a_pooled_hub_migrates_only_on_a_direct_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub@127.0.0.1:6432/hub")
    monkeypatch.setenv("HUB_DATABASE_POOLER", "transaction")
    with pytest.raises(ValueError, match="HUB_DIRECT_DATABASE_URL"):
        _ = Settings().migration_database_url
    monkeypatch.setenv("HUB_DIRECT_DATABASE_URL", "postgresql://hub@127.0.0.1:5432/hub")
    assert Settings().migration_database_url == "postgresql://hub@127.0.0.1:5432/hub"
    monkeypatch.setenv("HUB_DATABASE_POOLER", "none")
    monkeypatch.delenv("HUB_DIRECT_DATABASE_URL")
    assert Settings().migration_database_url == "postgresql://hub@127.0.0.1:6432/hub"


def test_migrate_through_the_pooler_is_refused_with_the_setting_named(tmp_path: Path) -> None:
    env = {**os.environ, "HUB_DATABASE_URL": "postgresql://hub@127.0.0.1:1/hub",
           "HUB_DATABASE_POOLER": "transaction", "HUB_DATA_DIR": str(tmp_path)}  # fmt: skip
    env.pop("HUB_DIRECT_DATABASE_URL", None)
    done = subprocess.run(
        [str(HUB), "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "HUB_DIRECT_DATABASE_URL" in done.stderr


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head

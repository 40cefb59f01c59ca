"""Alembic from code: the CLI, tests and ``/readyz`` use the same configuration."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from exchange_hub.db import driver_url, hold_transaction_lock

MIGRATION_LOCK = 724_200_110
"""PostgreSQL advisory lock key that serialises ``exchange-hub migrate`` across nodes."""


def _migrations_dir() -> Path:
    # Installed editable or from a checkout: migrations/ sits next to src/.
    here = Path(str(resources.files("exchange_hub")))
    for candidate in (here.parent.parent / "migrations", here / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("the migrations folder is missing from this installation")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    config.set_main_option("sqlalchemy.url", driver_url(database_url).replace("%", "%%"))
    return config


def hold_migration_lock(connection: Connection) -> None:
    """Wait for, then hold until the transaction ends, the migrations' advisory lock.

    Transaction-scoped, on the migration's own (direct) connection: Alembic runs every
    PostgreSQL migration in one transaction, so the lock covers reading the current
    revision, the DDL and the new revision. SQLite: its write lock does the same.
    """
    hold_transaction_lock(connection, MIGRATION_LOCK)


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def current_and_head(conn: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(conn).get_current_revision()
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return current, script.get_current_head()

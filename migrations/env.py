"""Alembic environment: one metadata (exchange_hub.models), URL from the config or settings."""

from __future__ import annotations

from alembic import context

from exchange_hub.config import Settings
from exchange_hub.db import driver_url, make_engine
from exchange_hub.migrations_util import hold_migration_lock
from exchange_hub.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    # Never through PgBouncer: the direct URL (Settings.migration_database_url says which).
    return url or driver_url(Settings().migration_database_url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        # Several nodes migrating at once (each runs prestart): one at a time; the next
        # finds the schema current and does nothing. Held until this transaction ends.
        hold_migration_lock(connection)
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

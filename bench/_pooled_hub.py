"""The hub's ASGI app for running behind PgBouncer in transaction pooling mode.

In transaction pooling a server connection serves other clients between
transactions, so psycopg must not prepare statements on it
(``prepare_threshold=None``). Issue 18 gives the hub its own setting for that
(``HUB_DATABASE_POOLER=transaction``); where the hub does not know it yet, this
entry point makes every PostgreSQL engine it builds connect so. Once the hub
has the setting, this module only imports the app.
"""

from __future__ import annotations

from typing import Any

from exchange_hub import db
from exchange_hub.config import Settings

if "database_pooler" not in Settings.model_fields:
    _create_engine = db.create_engine

    def _unprepared_engine(url: Any, **kwargs: Any) -> Any:
        if str(url).startswith("postgresql"):
            kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "prepare_threshold": None}
        return _create_engine(url, **kwargs)

    db.create_engine = _unprepared_engine  # type: ignore[assignment]

from exchange_hub.asgi import app

__all__ = ["app"]

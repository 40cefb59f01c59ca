"""What a running hub holds: settings, engines, session factories and keys.

Built by ``create_app``'s lifespan, by the CLI and by tests; never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from exchange_hub import crypto
from exchange_hub.config import Settings
from exchange_hub.db import is_sqlite, make_engine, make_sessionmaker


@dataclass
class HubContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    keyring: crypto.KeyRing

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_sessions.kw.get("bind") is not self.engine:
            bind = self.read_sessions.kw.get("bind")
            if bind is not None:
                bind.dispose()


def build_context(settings: Settings, *, people: Any = None) -> HubContext:
    """The hub's engines, session factories and keys.

    ``people`` answers the exchange's questions about people
    (``exchange.directory.PersonDirectory``): the records domain, which the
    entry points that assemble a whole hub pass in (``app``, ``cli``, the
    records commands, the tests). Without it the exchange knows nobody.
    """
    keyring = crypto.load_key_ring(
        settings.resolved_keys_file, create=settings.generate_dev_keys,
        profile=settings.crypto_profile,
    )  # fmt: skip
    info = {"keyring": keyring, "settings": settings, "people": people}
    pooler = settings.database_pooler
    engine = make_engine(settings.resolved_database_url, pooler=pooler)
    sessions = make_sessionmaker(engine)
    sessions.configure(info=info)
    read_sessions = sessions
    read_url = settings.read_database_url
    if not read_url and is_sqlite(engine) and not _in_memory(engine):
        read_url = settings.resolved_database_url  # SQLite reads beside the writer (db.py)
    if read_url:
        read_engine = make_engine(read_url, read_only=True, pooler=pooler)
        read_sessions = make_sessionmaker(read_engine)
        read_sessions.configure(info=info)
    return HubContext(settings, engine, sessions, read_sessions, keyring)


def _in_memory(engine: Engine) -> bool:
    return engine.url.database in (None, "", ":memory:")

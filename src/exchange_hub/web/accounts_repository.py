"""The console's own tables: console users and web sessions (issue 16: queries only here).

Only ``web/auth.py``, the console's account service, uses this module
(import-linter's console contract allows that one import).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from exchange_hub.db import rowcount
from exchange_hub.models import ConsoleSession, ConsoleUser


def username_taken(session: Session, username: str) -> bool:
    found = session.scalar(select(ConsoleUser.id).where(ConsoleUser.username == username))
    return found is not None


def user_named(session: Session, username: str) -> ConsoleUser | None:
    return session.scalar(select(ConsoleUser).where(ConsoleUser.username == username))


def users_by_name(session: Session) -> Sequence[ConsoleUser]:
    return session.scalars(select(ConsoleUser).order_by(ConsoleUser.username)).all()


def delete_sessions_seen_before(session: Session, cutoff: datetime) -> int:
    """Remove the sessions last seen before ``cutoff``; how many went."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < cutoff))
    return rowcount(result)


def delete_session(session: Session, token_hash: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))


def delete_other_sessions(session: Session, user_id: uuid.UUID, *, keep: str) -> int:
    """End every session of ``user_id`` except the one whose token hash is ``keep``."""
    result = session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.user_id == user_id, ConsoleSession.token_hash != keep
        )
    )
    return rowcount(result)

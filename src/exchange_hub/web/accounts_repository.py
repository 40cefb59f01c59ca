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
from exchange_hub.models import (
    ConsoleOidcSignIn,
    ConsoleSession,
    ConsoleSignInGuard,
    ConsoleUser,
)


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


def user_with_subject(session: Session, subject: str) -> ConsoleUser | None:
    """The console user linked to the identity provider's subject ``sub``."""
    return session.scalar(select(ConsoleUser).where(ConsoleUser.oidc_subject == subject))


def users_in_region(session: Session, prefix: str) -> Sequence[ConsoleUser]:
    """Console users whose region code starts with ``prefix`` ("" for all), by name."""
    query = select(ConsoleUser).order_by(ConsoleUser.username)
    if prefix:
        query = query.where(ConsoleUser.region.startswith(prefix, autoescape=True))
    return session.scalars(query).all()


def guards_of(session: Session, names: Sequence[str]) -> dict[str, ConsoleSignInGuard]:
    """The failed-sign-in counters kept under ``names``."""
    if not names:
        return {}
    query = select(ConsoleSignInGuard).where(ConsoleSignInGuard.username.in_(list(names)))
    return {guard.username: guard for guard in session.scalars(query)}


def delete_user_sessions(session: Session, user_id: uuid.UUID) -> int:
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
    return rowcount(result)


def take_oidc_sign_in(session: Session, token_hash: str) -> ConsoleOidcSignIn | None:
    """The sign-in under way behind a browser's cookie, removed as it is read (used once)."""
    row = session.get(ConsoleOidcSignIn, token_hash)
    if row is not None:
        session.delete(row)
        session.flush()
    return row


def delete_oidc_sign_ins_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(delete(ConsoleOidcSignIn).where(ConsoleOidcSignIn.created_at < cutoff))
    return rowcount(result)

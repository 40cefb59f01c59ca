"""账号管理: an admin's list of the console users in its region, and locking them.

An admin sees and acts on console users whose region lies inside its own
(SPEC §6 scope); any other user is "not found" (404), like another member's
object. Locking disables the account at once (every session ends, and no
sign-in opens it, through the identity provider neither) until an admin of
the region unlocks it, which also clears a lock-out by wrong passwords. An
admin cannot lock itself. Both are audited with the admin as actor.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.audit import service as audit
from exchange_hub.errors import Conflict, InvalidInput, NotFound
from exchange_hub.models import ConsoleUser
from exchange_hub.scope import Caller, require_role, scope_prefix
from exchange_hub.web import accounts_repository as repository
from exchange_hub.web import auth


@dataclass(frozen=True)
class UserEntry:
    """One row of the list: the account, and until when wrong passwords lock it out."""

    user: ConsoleUser
    failures_lock_until: datetime | None


def users_in_scope(session: Session, caller: Caller) -> Sequence[UserEntry]:
    require_role(caller, "admin")
    users = repository.users_in_region(session, scope_prefix(caller.region))
    guards = repository.guards_of(session, [auth.guard_key(u.username) for u in users])
    now = clock.now()
    entries = []
    for user in users:
        guard = guards.get(auth.guard_key(user.username))
        until = guard.locked_until if guard and guard.locked_until else None
        entries.append(UserEntry(user, until if until and until > now else None))
    return entries


def _target(session: Session, caller: Caller, user_id: uuid.UUID) -> ConsoleUser:
    require_role(caller, "admin")
    user = session.get(ConsoleUser, user_id)
    if user is None or not caller.covers(user.region):
        raise NotFound("no such console user in your region", field="target")
    return user


def _audit(
    session: Session, caller: Caller, action: str, user: ConsoleUser, **detail: object
) -> None:
    audit.record(
        session,
        audit.entry_for(
            caller,
            action,
            object_type="console_user",
            object_id=str(user.id),
            request_id=session.info.get("request_id"),
            detail={"username": user.username, **detail},
        ),
    )


def lock_user(session: Session, caller: Caller, user_id: uuid.UUID) -> tuple[str, int]:
    """Lock a console user of the caller's region; its user name and the sessions ended."""
    user = _target(session, caller, user_id)
    if user.id == caller.member_id:
        raise InvalidInput("an admin cannot lock its own account", field="target")
    if not user.active:
        raise Conflict("the account is locked already", field="target")
    user.active, user.locked_at = False, clock.now()
    user.locked_by = caller.name.removeprefix("console:")[:64]
    ended = repository.delete_user_sessions(session, user.id)
    session.flush()
    _audit(session, caller, "console.user_locked", user, sessions_ended=ended)
    return user.username, ended


def unlock_user(session: Session, caller: Caller, user_id: uuid.UUID) -> str:
    """Unlock a console user of the caller's region (an admin's lock, or wrong passwords')."""
    user = _target(session, caller, user_id)
    guard = auth.lock_state(session, user.username)
    failures_locked = guard is not None and guard.locked_until is not None
    if user.active and not failures_locked:
        raise Conflict("the account is not locked", field="target")
    user.active, user.locked_at, user.locked_by = True, None, None
    if guard is not None:
        guard.failures, guard.locked_until = 0, None
    session.flush()
    _audit(session, caller, "console.user_unlocked", user, by="admin")
    return user.username

"""Console accounts: passwords (argon2id), sessions, CSRF tokens, lock-out and idle time-out.

Every sign-in, successful or not, and every sign-out is written to the audit
trail. Only hashes are stored: argon2id for passwords, SHA-256 for the
session token the browser holds in its cookie.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.audit import service as audit
from exchange_hub.errors import Conflict, InvalidInput, NotFound
from exchange_hub.masking import mask_text
from exchange_hub.models import ConsoleSession, ConsoleSignInGuard, ConsoleUser
from exchange_hub.regions import service as regions
from exchange_hub.scope import Caller
from exchange_hub.web import accounts_repository as repository

MAX_FAILURES = 5
"""Consecutive failed sign-ins that lock a user name."""
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 10
SEEN_REFRESH_SECONDS = 30
"""``last_seen_at`` is rewritten at most this often, so reading pages does not write every time."""
CONSOLE_ROLES = ("admin", "county")

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}")
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against for unknown user names, so both paths cost one argon2
    verification. Made on first use, not at import: one argon2 hash takes its
    64 MiB of memory, which every server process would otherwise spend at start."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``token`` goes into the cookie, the row keeps only its hash."""

    token: str
    user: ConsoleUser
    csrf_token: str


@dataclass(frozen=True)
class SignInRefused:
    reason: Literal["invalid", "locked"]
    locked_until: datetime | None = None


@dataclass(frozen=True)
class ActiveSession:
    user: ConsoleUser
    row: ConsoleSession

    @property
    def caller(self) -> Caller:
        return caller_of(self.user)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def caller_of(user: ConsoleUser) -> Caller:
    """The console account as a caller of the domain services, with its SPEC §6 scope."""
    return Caller(
        member_id=user.id,
        name=f"console:{user.username}",
        role=user.role,  # type: ignore[arg-type]
        region=user.region,
        person_data_grant=user.person_data_grant,
    )


# -- accounts ------------------------------------------------------------------
def check_region(session: Session, role: str, region: str) -> str:
    """The region code a console account of ``role`` may have (a county's is a current county)."""
    if role not in CONSOLE_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(CONSOLE_ROLES)}", field="role")
    if role == "county":
        return regions.require_current_county(session, region, field="region").code
    found = regions.get_region(session, region)
    if found.level == "county":
        raise InvalidInput(
            "an admin covers a prefecture, a province or the nation (000000)", field="region"
        )
    return found.code


def check_password_policy(password: str, *, username: str, field: str = "password") -> None:
    """SPEC-less but usual: long enough, not the user name (the operator's and the user's own)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field=field
        )
    if password.strip().lower() == username.lower():
        raise InvalidInput("the password may not be the user name", field=field)


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    region: str,
    person_data_grant: bool = False,
) -> ConsoleUser:
    if not _USERNAME.fullmatch(username or ""):
        raise InvalidInput(
            "3-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field="username",
        )
    check_password_policy(password, username=username)
    code = check_region(session, role, region)
    if repository.username_taken(session, username):
        raise Conflict(f"a console user {username!r} exists already", field="username")
    user = ConsoleUser(
        username=username,
        password_hash=_hasher.hash(password),
        role=role,
        region=code,
        person_data_grant=person_data_grant,
        active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        audit.entry_for(
            None,
            "console.user_added",
            actor="operator",
            region=code,
            object_type="console_user",
            object_id=str(user.id),
            detail={"username": username, "role": role, "person_data": person_data_grant},
        ),
    )
    return user


def list_users(session: Session) -> Sequence[ConsoleUser]:
    return repository.users_by_name(session)


def lock_state(session: Session, username: str) -> ConsoleSignInGuard | None:
    return session.get(ConsoleSignInGuard, guard_key(username))


def unlock(session: Session, username: str) -> None:
    """Clear the failed sign-ins of ``username``, and an admin's lock of the account
    (账号管理), for the operator's ``users unlock``."""
    guard = session.get(ConsoleSignInGuard, guard_key(username))
    user = repository.user_named(session, username)
    admin_locked = user is not None and not user.active and user.locked_by is not None
    if not admin_locked and (guard is None or (guard.failures == 0 and guard.locked_until is None)):
        raise NotFound(f"{username!r} is not locked", field="username")
    if guard is not None:
        guard.failures, guard.locked_until = 0, None
    if user is not None and admin_locked:
        user.active, user.locked_by, user.locked_at = True, None, None
    session.flush()
    audit.record(
        session,
        audit.entry_for(
            None,
            "console.user_unlocked",
            actor="operator",
            object_type="console_user",
            detail={"username": username},
        ),
    )


# -- signing in and out ----------------------------------------------------------
def guard_key(username: str) -> str:
    """The name failed sign-ins are counted under: as typed, but with an ID or mobile
    number someone typed into the name field masked (it is stored, and may be anything)."""
    return mask_text(username)


def _guard(session: Session, username: str) -> ConsoleSignInGuard:
    guard = session.get(ConsoleSignInGuard, guard_key(username))
    if guard is None:
        guard = ConsoleSignInGuard(username=guard_key(username), failures=0)
        session.add(guard)
    return guard


def _password_matches(user: ConsoleUser | None, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


def _audit_sign_in(
    session: Session, user: ConsoleUser | None, username: str, outcome: str, client: str | None
) -> None:
    caller = caller_of(user) if user else None
    audit.record(
        session,
        audit.entry_for(
            caller,
            "console.sign_in",
            outcome=outcome,
            client=client,
            object_type="console_user",
            object_id=str(user.id) if user else None,
            detail={"username": username[:64]},
        ),
    )


def _count_failure(guard: ConsoleSignInGuard, now: datetime) -> bool:
    """One more wrong password under ``guard``; True when it locked the name."""
    guard.failures += 1
    guard.last_failure_at = now
    if guard.failures < MAX_FAILURES:
        return False
    guard.locked_until = now + timedelta(minutes=LOCK_MINUTES)
    guard.failures = 0
    return True


def _refuse(
    session: Session,
    guard: ConsoleSignInGuard,
    user: ConsoleUser | None,
    now: datetime,
    client: str | None,
) -> SignInRefused:
    _count_failure(guard, now)
    session.flush()
    _audit_sign_in(session, user, guard.username, "refused", client)
    if guard.locked_until and guard.locked_until > now:
        return SignInRefused("locked", guard.locked_until)
    return SignInRefused("invalid")


def purge_idle_sessions(session: Session, *, idle_minutes: int) -> int:
    """Remove sessions idle past the time-out (abandoned browsers never come back to expire)."""
    cutoff = clock.now() - timedelta(minutes=idle_minutes)
    return repository.delete_sessions_seen_before(session, cutoff)


def sign_in(
    session: Session, *, username: str, password: str, client: str | None
) -> SignedIn | SignInRefused:
    """Check a password; after ``MAX_FAILURES`` in a row the name is locked for ``LOCK_MINUTES``.

    A locked name is refused without looking at the password, and unknown
    names are counted like known ones, so the answers reveal nothing.
    """
    now = clock.now()
    username = (username or "").strip()[:64]
    guard = _guard(session, username)
    user = repository.user_named(session, username)
    if guard.locked_until and guard.locked_until > now:
        _audit_sign_in(session, user, username, "locked", client)
        return SignInRefused("locked", guard.locked_until)
    if not _password_matches(user, password) or user is None or not user.active:
        return _refuse(session, guard, user, now, client)
    guard.failures, guard.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    signed_in = open_session(session, user, client=client)
    _audit_sign_in(session, user, username, "ok", client)
    return signed_in


def open_session(
    session: Session, user: ConsoleUser, *, client: str | None, oidc_subject: str | None = None
) -> SignedIn:
    """A new session of ``user`` (password or identity provider alike): the sign-in before
    this one is kept for 我的账号, the cookie's token is returned, only its hash stored."""
    now = clock.now()
    user.previous_sign_in_at, user.previous_sign_in_client = (
        user.last_sign_in_at,
        user.last_sign_in_client,
    )
    user.last_sign_in_at, user.last_sign_in_client = now, client
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            client=client,
            oidc_subject=oidc_subject,
        )
    )
    session.flush()
    return SignedIn(token, user, csrf)


def resolve_session(session: Session, token: str, *, idle_minutes: int) -> ActiveSession | None:
    """The session behind a cookie, or None when unknown, idle too long or the user is disabled."""
    if not token:
        return None
    row = session.get(ConsoleSession, token_hash(token))
    if row is None:
        return None
    now = clock.now()
    user = session.get(ConsoleUser, row.user_id)
    if user is None or not user.active or now - row.last_seen_at > timedelta(minutes=idle_minutes):
        session.delete(row)
        session.flush()
        return None
    if (now - row.last_seen_at).total_seconds() > SEEN_REFRESH_SECONDS:
        row.last_seen_at = now
        session.flush()
    return ActiveSession(user, row)


def sign_out(session: Session, active: ActiveSession, *, client: str | None) -> None:
    repository.delete_session(session, active.row.token_hash)
    subject = active.row.oidc_subject
    audit.record(
        session,
        audit.entry_for(
            active.caller,
            "console.sign_out",
            client=client,
            object_type="console_user",
            object_id=str(active.user.id),
            detail={"method": "oidc", "subject": subject} if subject else None,
        ),
    )


@dataclass(frozen=True)
class PasswordChange:
    current: str
    new: str
    repeated: str


@dataclass(frozen=True)
class PasswordRefused:
    """Why a password change was refused, naming the form's field; the page shows it (422)."""

    field: Literal["current_password", "new_password", "repeat_password"]
    reason: Literal["wrong", "locked", "too_short", "is_username", "mismatch", "unchanged"]


def _password_problem(user: ConsoleUser, change: PasswordChange) -> PasswordRefused | None:
    if not _password_matches(user, change.current):
        return PasswordRefused("current_password", "wrong")
    if len(change.new) < MIN_PASSWORD_LENGTH:
        return PasswordRefused("new_password", "too_short")
    if change.new.strip().lower() == user.username.lower():
        return PasswordRefused("new_password", "is_username")
    if change.new != change.repeated:
        return PasswordRefused("repeat_password", "mismatch")
    if change.new == change.current:
        return PasswordRefused("new_password", "unchanged")
    return None


def change_password(
    session: Session, active: ActiveSession, change: PasswordChange, *, client: str | None
) -> PasswordRefused | int:
    """A signed-in user's new password (argon2id, as at sign-in); the user's other sessions end.

    A refusal is returned, not raised, so that its audit row (a wrong current
    password may be someone else at an unlocked screen) commits with the page.
    A wrong current password counts toward the sign-in lock-out like a wrong
    password at sign-in: the form must not be a way to guess it without limit.
    The failure that locks the name also ends every session of the user
    (``reason`` "locked"). Returns how many other sessions were ended.
    """
    user = session.get(ConsoleUser, active.user.id)
    if user is None or not user.active:
        raise NotFound("no such console user", field="username")
    problem = _password_problem(user, change)
    if problem is not None and problem.reason == "wrong":
        if _count_failure(_guard(session, user.username), clock.now()):
            repository.delete_other_sessions(session, user.id, keep="")
            problem = PasswordRefused("current_password", "locked")
        session.flush()
    if problem is not None:
        detail = {"field": problem.field, "reason": problem.reason}
        _audit_password_change(session, active, "refused", client, detail)
        return problem
    user.password_hash = _hasher.hash(change.new)
    user.password_changed_at = clock.now()
    ended = repository.delete_other_sessions(session, user.id, keep=active.row.token_hash)
    session.flush()
    _audit_password_change(session, active, "ok", client, {"other_sessions_ended": ended})
    return ended


def _audit_password_change(
    session: Session,
    active: ActiveSession,
    outcome: str,
    client: str | None,
    detail: dict[str, Any],
) -> None:
    audit.record(
        session,
        audit.entry_for(
            active.caller,
            "console.password_changed",
            outcome=outcome,
            client=client,
            object_type="console_user",
            object_id=str(active.user.id),
            detail={"username": active.user.username, **detail},
        ),
    )


def csrf_matches(active: ActiveSession, submitted: str) -> bool:
    return bool(submitted) and secrets.compare_digest(active.row.csrf_token, submitted)

"""The web console's people: accounts, their signed-in sessions, and failed sign-ins.

Console accounts are people (provincial admins, county clerks), not member
systems: they sign in with a password, never with an API key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub import clock
from exchange_hub.models.base import Base, UTCDateTime, new_id


class ConsoleUser(Base):
    """A person who signs in to the console, with the SPEC §6 scope of an admin or a county."""

    __tablename__ = "console_users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(12))  # admin | county
    region: Mapped[str] = mapped_column(String(6))
    person_data_grant: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_client: Mapped[str | None] = mapped_column(String(64))
    previous_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The sign-in before this one, shown on 我的账号 so a user notices one that was not theirs."""
    previous_sign_in_client: Mapped[str | None] = mapped_column(String(64))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    """The provider's ``sub`` of the person (统一身份认证): set by ``users link``, or by the
    claim mapping for an account it made (``claims_managed``)."""
    claims_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    """Made by the claim mapping at a sign-in through the provider: its role and region follow
    the allowed claims at every sign-in; it has no password."""
    locked_by: Mapped[str | None] = mapped_column(String(64))
    """The admin who locked the account on the console's user page (``active`` is then false)."""
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    client: Mapped[str | None] = mapped_column(String(64))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    """Set when the session came from the identity provider: sign-out then ends the
    provider's session too (RP-initiated logout)."""


class ConsoleOidcSignIn(Base):
    """A sign-in through the identity provider under way: what the OIDC client keeps between
    sending the browser to the provider and its return (state, nonce, PKCE verifier).

    Keyed by the SHA-256 of a cookie of the browser that started it, so the return is only
    accepted from that browser; used once, then deleted.
    """

    __tablename__ = "console_oidc_sign_ins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_state: Mapped[dict[str, Any]] = mapped_column(JSON)
    next_path: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ConsoleSignInGuard(Base):
    """Failed sign-ins per user name, kept for unknown names too so a lock-out reveals nothing."""

    __tablename__ = "console_sign_in_guards"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

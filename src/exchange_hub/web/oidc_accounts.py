"""Who a person signed in through the identity provider is in the hub (统一身份认证).

Two ways, tried in this order, and never more than they allow:

1. **A linked account**: an operator linked a console user to the provider's
   subject (``exchange-hub users link --username X --subject SUB``). The person
   gets that account's role, region and person-data grant as the operator set
   them; the token's claims change nothing.
2. **The claim mapping** (``HUB_OIDC_ROLE_CLAIM``, ``HUB_OIDC_REGION_CLAIM``):
   the role must be one of ``HUB_OIDC_ALLOWED_ROLES`` (``county`` unless
   ``admin`` is listed) and the region a code inside one of
   ``HUB_OIDC_ALLOWED_REGIONS`` (a county role: a current county; an admin: a
   prefecture, province or the nation). The hub keeps an account for the
   person (``claims_managed``, no password), whose role and region follow the
   claims at every sign-in. The person-data grant is never taken from a claim:
   such an account never has it.

A valid token that neither way maps is refused (``Unmapped``) and audited with
its subject; so is a token whose account an admin locked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.audit import service as audit
from exchange_hub.config import Settings
from exchange_hub.errors import Conflict, HubError, InvalidInput, NotFound
from exchange_hub.models import ConsoleOidcSignIn, ConsoleUser
from exchange_hub.scope import region_in_scope
from exchange_hub.web import accounts_repository as repository
from exchange_hub.web import auth

SIGN_IN_MINUTES = 10
"""How long a sign-in started at the provider may take before its state is forgotten."""
MAX_SUBJECT = 255
NO_PASSWORD = "!"
"""The password hash of an account made by the claim mapping: matches no password."""
_REGION = re.compile(r"\d{6}")


@dataclass(frozen=True)
class ClaimMapping:
    role_claim: str
    region_claim: str
    allowed_roles: tuple[str, ...]
    allowed_regions: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> ClaimMapping:
        return cls(
            role_claim=settings.oidc_role_claim,
            region_claim=settings.oidc_region_claim,
            allowed_roles=tuple(settings.oidc_allowed_roles),
            allowed_regions=tuple(settings.oidc_allowed_regions),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.role_claim and self.region_claim and self.allowed_regions)

    @property
    def wanted(self) -> tuple[str, ...]:
        """The claims the mapping reads (fetched from userinfo when the ID token lacks them)."""
        return (self.role_claim, self.region_claim) if self.enabled else ()


RefusedClaim = Literal["unmapped", "role", "region"]


@dataclass(frozen=True)
class Unmapped:
    """A valid sign-in at the provider that the hub does not let in, and why."""

    reason: RefusedClaim | Literal["locked"]
    subject: str


def mapped_scope(
    session: Session, mapping: ClaimMapping, claims: Mapping[str, Any]
) -> tuple[str, str] | RefusedClaim:
    """``(role, region)`` that the claims give under ``mapping``, or the refused claim's
    reason ("unmapped" when the mapping is off, "role" or "region")."""
    if not mapping.enabled:
        return "unmapped"
    role = claims.get(mapping.role_claim)
    if not isinstance(role, str) or role not in mapping.allowed_roles:
        return "role"
    if role not in auth.CONSOLE_ROLES:
        return "role"
    region = claims.get(mapping.region_claim)
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        return "region"
    if not any(region_in_scope(allowed, region) for allowed in mapping.allowed_regions):
        return "region"
    try:
        return role, auth.check_region(session, role, region)
    except HubError:
        return "region"


def managed_username(subject: str) -> str:
    """The user name of an account the claim mapping made: ``sso-`` and a digest of ``sub``."""
    return "sso-" + hashlib.sha256(subject.encode()).hexdigest()[:16]


def resolve(
    session: Session, mapping: ClaimMapping, claims: Mapping[str, Any]
) -> ConsoleUser | Unmapped:
    """The console account of a person with these checked claims (see the module's text)."""
    subject = str(claims["sub"])
    user = repository.user_with_subject(session, subject)
    if user is not None and not user.claims_managed:
        return user if user.active else Unmapped("locked", subject)
    scope = mapped_scope(session, mapping, claims)
    if isinstance(scope, str):
        return Unmapped(scope, subject)
    role, region = scope
    if user is None:
        user = ConsoleUser(
            username=managed_username(subject),
            password_hash=NO_PASSWORD,
            role=role,
            region=region,
            person_data_grant=False,
            active=True,
            created_at=clock.now(),
            oidc_subject=subject,
            claims_managed=True,
        )
        session.add(user)
    elif not user.active:
        return Unmapped("locked", subject)
    user.role, user.region, user.person_data_grant = role, region, False
    session.flush()
    return user


def sign_in(
    session: Session, settings: Settings, claims: Mapping[str, Any], *, client: str | None
) -> auth.SignedIn | Unmapped:
    """A session for the person behind checked ``claims``, or the refusal; audited either way."""
    auth.purge_idle_sessions(session, idle_minutes=settings.session_idle_minutes)
    mapping = ClaimMapping.from_settings(settings)
    found = resolve(session, mapping, claims)
    subject = str(claims["sub"])
    if isinstance(found, Unmapped):
        audit_refusal(session, found.reason, client=client, subject=subject)
        return found
    signed_in = auth.open_session(session, found, client=client, oidc_subject=subject)
    audit.record(
        session,
        audit.entry_for(
            auth.caller_of(found),
            "console.sign_in",
            outcome="ok",
            client=client,
            object_type="console_user",
            object_id=str(found.id),
            detail={
                "username": found.username,
                "method": "oidc",
                "subject": subject[:MAX_SUBJECT],
                "mapped_by": "claims" if found.claims_managed else "link",
            },
        ),
    )
    return signed_in


def audit_refusal(
    session: Session, reason: str, *, client: str | None, subject: str | None = None
) -> None:
    """A sign-in through the provider that was refused (bad token, state, unmapped …)."""
    detail: dict[str, Any] = {"method": "oidc", "reason": reason}
    if subject:
        detail["subject"] = subject[:MAX_SUBJECT]
    audit.record(
        session,
        audit.entry_for(None, "console.sign_in", outcome="refused", client=client, detail=detail),
    )


# -- sign-ins under way ------------------------------------------------------------------
def keep_sign_in(
    session: Session, token: str, client_state: dict[str, Any], next_path: str
) -> None:
    """Keep the OIDC client's state of a sign-in just sent to the provider (one per cookie)."""
    now = clock.now()
    repository.delete_oidc_sign_ins_before(session, now - timedelta(minutes=SIGN_IN_MINUTES))
    session.add(
        ConsoleOidcSignIn(
            token_hash=auth.token_hash(token),
            client_state=client_state,
            next_path=next_path,
            created_at=now,
        )
    )
    session.flush()


def take_sign_in(session: Session, token: str) -> ConsoleOidcSignIn | None:
    """The sign-in started by this browser (its cookie), once, if still fresh."""
    if not token:
        return None
    row = repository.take_oidc_sign_in(session, auth.token_hash(token))
    if row is None or clock.now() - row.created_at > timedelta(minutes=SIGN_IN_MINUTES):
        return None
    return row


# -- the operator's links ------------------------------------------------------------------
def link_subject(session: Session, *, username: str, subject: str) -> ConsoleUser:
    """Link a console user to the provider's ``sub`` (``exchange-hub users link``)."""
    subject = (subject or "").strip()
    if not subject or len(subject) > MAX_SUBJECT:
        raise InvalidInput(f"1-{MAX_SUBJECT} characters", field="subject")
    user = repository.user_named(session, username)
    if user is None or user.claims_managed:
        raise NotFound(f"no console user {username!r}", field="username")
    holder = repository.user_with_subject(session, subject)
    if holder is not None and holder.id != user.id:
        raise Conflict(f"the subject is linked to {holder.username!r} already", field="subject")
    user.oidc_subject = subject
    session.flush()
    audit.record(
        session,
        audit.entry_for(
            None,
            "console.user_linked",
            actor="operator",
            region=user.region,
            object_type="console_user",
            object_id=str(user.id),
            detail={"username": user.username, "subject": subject},
        ),
    )
    return user

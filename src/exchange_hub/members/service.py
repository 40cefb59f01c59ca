"""Members and their API keys."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from exchange_hub import clock, crypto
from exchange_hub.audit import service as audit
from exchange_hub.errors import InvalidInput, NotFound
from exchange_hub.members import repository
from exchange_hub.members.schemas import MemberRead
from exchange_hub.models import Member
from exchange_hub.regions import service as regions
from exchange_hub.scope import (
    DEPARTMENTS,
    ROLES,
    Caller,
    region_in_scope,
    require_admin_over,
    require_role,
)

KEY_PREFIX = "hub"


@dataclass(frozen=True)
class IssuedKey:
    member: Member
    api_key: str


def _new_key() -> tuple[str, str, str]:
    key_id = secrets.token_hex(8)
    secret = crypto.new_secret()
    return key_id, f"{KEY_PREFIX}_{key_id}_{secret}", crypto.hash_api_key(secret)


def split_api_key(api_key: str) -> tuple[str, str] | None:
    """``hub_<key id>_<secret>`` → (key id, secret), or None when malformed."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _check_role(session: Session, role: str, region: str, department: str | None) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    code = regions.normalise_code(region)
    found = regions.get_region(session, code)
    if role in ("county", "department"):
        regions.require_current_county(session, code, field="region")
    if role == "department" and department not in DEPARTMENTS:
        raise InvalidInput(
            f"department must be one of {', '.join(DEPARTMENTS)}", field="department"
        )
    if role != "department" and department:
        raise InvalidInput("only department reporters have a department", field="department")
    return found.code


def add_member(
    session: Session,
    *,
    name: str,
    role: str,
    region: str,
    department: str | None = None,
    public_key: str | None = None,
    person_data_grant: bool = False,
) -> IssuedKey:
    code = _check_role(session, role, region, department)
    key_id, api_key, key_hash = _new_key()
    member = Member(
        name=name or f"{role} {code}",
        role=role,
        region=code,
        department=department,
        key_id=key_id,
        key_hash=key_hash,
        public_key=_parse_public_key(public_key) if public_key else None,
        person_data_grant=person_data_grant and role == "admin",
    )
    session.add(member)
    session.flush()
    return IssuedKey(member, api_key)


def _parse_public_key(value: str) -> str:
    try:
        return crypto.parse_public_key(value)
    except crypto.CryptoError as exc:
        raise InvalidInput(str(exc), field="public_key") from exc


def get_member(session: Session, member_id: uuid.UUID | str) -> Member:
    try:
        ident = member_id if isinstance(member_id, uuid.UUID) else uuid.UUID(str(member_id))
    except ValueError as exc:
        raise NotFound(f"no member {member_id}", field="member_id") from exc
    member = session.get(Member, ident)
    if member is None:
        raise NotFound(f"no member {member_id}", field="member_id")
    return member


def find_by_name(session: Session, name: str) -> Member | None:
    """The member called ``name``, None when there is none."""
    return repository.member_named(session, name)


def list_members(session: Session, *, within: str | None = None) -> Sequence[Member]:
    members = repository.members_by_region(session)
    if within is None:
        return members
    return [m for m in members if region_in_scope(within, m.region)]


def revoke(session: Session, member_id: uuid.UUID | str) -> Member:
    member = get_member(session, member_id)
    member.active = False
    member.revoked_at = clock.now()
    session.flush()
    return member


def rotate_key(session: Session, member_id: uuid.UUID | str) -> IssuedKey:
    member = get_member(session, member_id)
    key_id, api_key, key_hash = _new_key()
    member.key_id, member.key_hash = key_id, key_hash
    session.flush()
    return IssuedKey(member, api_key)


def set_public_key(session: Session, member_id: uuid.UUID | str, public_key: str | None) -> Member:
    member = get_member(session, member_id)
    member.public_key = _parse_public_key(public_key) if public_key else None
    session.flush()
    return member


def find_by_api_key(session: Session, api_key: str) -> Member | None:
    parts = split_api_key(api_key)
    if parts is None:
        return None
    key_id, secret = parts
    member = repository.member_with_key_id(session, key_id)
    if member is None or not crypto.api_key_matches(secret, member.key_hash):
        return None
    return member


def caller_of(member: Member) -> Caller:
    return Caller(
        member_id=member.id,
        name=member.name,
        role=member.role,  # type: ignore[arg-type]
        region=member.region,
        department=member.department,
        person_data_grant=member.person_data_grant,
    )


def member_read(member: Member) -> MemberRead:
    return MemberRead(
        id=member.id,
        name=member.name,
        role=member.role,
        region=member.region,
        department=member.department,
        key_id=member.key_id,
        signs_requests=member.public_key is not None,
        person_data_grant=member.person_data_grant,
        push_url=member.push_url,
        active=member.active,
        created_at=member.created_at,
        revoked_at=member.revoked_at,
    )


# -- the same operations on behalf of an admin (API), scoped and audited ----------
def audit_member_change(session: Session, caller: Caller, action: str, member: Member) -> None:
    """An audit row of a change to a member (its role and region, never its keys)."""
    audit.record(
        session,
        audit.entry_for(
            caller,
            action,
            object_type="member",
            object_id=str(member.id),
            request_id=session.info.get("request_id"),
            detail={"role": member.role, "region": member.region},
        ),
    )


def _member_in_scope(session: Session, caller: Caller, member_id: uuid.UUID) -> Member:
    require_role(caller, "admin")
    member = get_member(session, member_id)
    if not caller.covers(member.region):
        raise NotFound(f"no member {member_id}", field="member_id")
    return member


def add_member_as(
    session: Session,
    caller: Caller,
    *,
    name: str,
    role: str,
    region: str,
    department: str | None = None,
    public_key: str | None = None,
) -> IssuedKey:
    require_admin_over(caller, regions.normalise_code(region or ""), field="region")
    issued = add_member(
        session, name=name, role=role, region=region, department=department,
        public_key=public_key,
    )  # fmt: skip
    audit_member_change(session, caller, "member.add", issued.member)
    return issued


def revoke_as(session: Session, caller: Caller, member_id: uuid.UUID) -> Member:
    member = revoke(session, _member_in_scope(session, caller, member_id).id)
    audit_member_change(session, caller, "member.revoke", member)
    return member


def rotate_key_as(session: Session, caller: Caller, member_id: uuid.UUID) -> IssuedKey:
    issued = rotate_key(session, _member_in_scope(session, caller, member_id).id)
    audit_member_change(session, caller, "member.rotate_key", issued.member)
    return issued


def list_members_as(session: Session, caller: Caller) -> Sequence[Member]:
    require_role(caller, "admin")
    return list_members(session, within=caller.region)

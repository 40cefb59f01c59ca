"""Member management for admins inside their scope, and ``/me`` for everyone."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, Field

from exchange_hub.audit import service as audit
from exchange_hub.deps import CurrentCaller, DbSession
from exchange_hub.errors import NotFound
from exchange_hub.members import service
from exchange_hub.members.schemas import MemberIssued, MemberList, MemberRead
from exchange_hub.members.scope import Caller, require_admin_over, require_role

router = APIRouter(prefix="/api/v1/members", tags=["members"])


class MemberCreate(BaseModel):
    name: str = Field("", max_length=200)
    role: str
    region: str = Field(max_length=6)
    department: str | None = None
    public_key: str | None = Field(None, max_length=64)


class Me(BaseModel):
    name: str
    role: str
    region: str
    department: str | None


@router.get("/me", response_model=Me)
def read_me(caller: CurrentCaller) -> Me:
    return Me(
        name=caller.name, role=caller.role, region=caller.region, department=caller.department
    )


@router.get("", response_model=MemberList)
def list_members(session: DbSession, caller: CurrentCaller) -> MemberList:
    require_role(caller, "admin")
    members = service.list_members(session, within=caller.region)
    return MemberList(items=[MemberRead(**service.member_read(m)) for m in members])


@router.post("", response_model=MemberIssued, status_code=201)
def add_member(body: MemberCreate, session: DbSession, caller: CurrentCaller) -> MemberIssued:
    require_admin_over(caller, body.region.ljust(6, "0"), field="region")
    issued = service.add_member(session, **body.model_dump())
    _audit(session, caller, "member.add", issued.member.id)
    return MemberIssued(
        member=MemberRead(**service.member_read(issued.member)), api_key=issued.api_key
    )


def _member_in_scope(session: DbSession, caller: Caller, member_id: uuid.UUID):  # type: ignore[no-untyped-def]
    require_role(caller, "admin")
    member = service.get_member(session, member_id)
    if not caller.covers(member.region):
        raise NotFound(f"no member {member_id}", field="member_id")
    return member


@router.post("/{member_id}/revoke", response_model=MemberRead)
def revoke_member(member_id: uuid.UUID, session: DbSession, caller: CurrentCaller) -> MemberRead:
    member = service.revoke(session, _member_in_scope(session, caller, member_id).id)
    _audit(session, caller, "member.revoke", member.id)
    return MemberRead(**service.member_read(member))


@router.post("/{member_id}/rotate-key", response_model=MemberIssued)
def rotate_member_key(
    member_id: uuid.UUID, session: DbSession, caller: CurrentCaller
) -> MemberIssued:
    issued = service.rotate_key(session, _member_in_scope(session, caller, member_id).id)
    _audit(session, caller, "member.rotate_key", issued.member.id)
    return MemberIssued(
        member=MemberRead(**service.member_read(issued.member)), api_key=issued.api_key
    )


def _audit(session: DbSession, caller: Caller, action: str, member_id: uuid.UUID) -> None:
    audit.record(
        session,
        audit.entry_for(
            caller,
            action,
            object_type="member",
            object_id=str(member_id),
            request_id=session.info.get("request_id"),
        ),
    )

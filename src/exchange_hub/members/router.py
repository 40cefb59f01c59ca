"""Member management for admins inside their scope, and ``/me`` for everyone."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from exchange_hub.deps import CurrentCaller, DbSession
from exchange_hub.members import service
from exchange_hub.members.schemas import (
    Me,
    MemberCreate,
    MemberIssued,
    MemberList,
    MemberRead,
)

router = APIRouter(prefix="/api/v1/members", tags=["members"])


@router.get("/me", response_model=Me)
def read_me(caller: CurrentCaller) -> Me:
    return Me(
        name=caller.name, role=caller.role, region=caller.region, department=caller.department
    )


@router.get("", response_model=MemberList)
def list_members(session: DbSession, caller: CurrentCaller) -> MemberList:
    return MemberList(
        items=[service.member_read(m) for m in service.list_members_as(session, caller)]
    )


@router.post("", response_model=MemberIssued, status_code=201)
def add_member(body: MemberCreate, session: DbSession, caller: CurrentCaller) -> MemberIssued:
    issued = service.add_member_as(
        session, caller, name=body.name, role=body.role, region=body.region,
        department=body.department, public_key=body.public_key,
    )  # fmt: skip
    return MemberIssued(member=service.member_read(issued.member), api_key=issued.api_key)


@router.post("/{member_id}/revoke", response_model=MemberRead)
def revoke_member(member_id: uuid.UUID, session: DbSession, caller: CurrentCaller) -> MemberRead:
    return service.member_read(service.revoke_as(session, caller, member_id))


@router.post("/{member_id}/rotate-key", response_model=MemberIssued)
def rotate_member_key(
    member_id: uuid.UUID, session: DbSession, caller: CurrentCaller
) -> MemberIssued:
    issued = service.rotate_key_as(session, caller, member_id)
    return MemberIssued(member=service.member_read(issued.member), api_key=issued.api_key)

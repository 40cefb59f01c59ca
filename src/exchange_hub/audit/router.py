"""The audit trail for admins, filtered to the members inside their scope."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from exchange_hub.audit import service
from exchange_hub.deps import CurrentCaller, Hub, ReadSession
from exchange_hub.scope import require_role

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditRead(BaseModel):
    id: int
    at: datetime
    member_id: uuid.UUID | None
    actor: str
    region: str | None
    action: str
    object_type: str | None
    object_id: str | None
    outcome: str
    client: str | None
    request_id: str | None
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: int | None


class ChainSegment(BaseModel):
    """A run of links made with one audit key: the chain changes key with the profile."""

    key: str = Field(description="<alg>.<kid>: HS256 (HMAC-SHA256) or HSM3 (HMAC-SM3)")
    first_id: int
    last_id: int
    rows: int


class ChainStatus(BaseModel):
    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str | None
    last_id: int | None
    last_hash: str | None
    segments: list[ChainSegment] = Field(default_factory=list)


@router.get("", response_model=AuditPage)
def list_audit_events(
    session: ReadSession,
    caller: CurrentCaller,
    action: str | None = Query(None, max_length=60),
    outcome: str | None = Query(None, max_length=20),
    cursor: int = Query(0, ge=0, le=2**63 - 1),
    limit: int = Query(100, ge=1, le=500),
) -> AuditPage:
    require_role(caller, "admin")
    rows = service.list_events(
        session, within=caller.region, action=action, outcome=outcome, after_id=cursor, limit=limit
    )
    items = [AuditRead.model_validate(r, from_attributes=True) for r in rows]
    return AuditPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get("/verify", response_model=ChainStatus)
def verify_audit_chain(session: ReadSession, caller: CurrentCaller, hub: Hub) -> ChainStatus:
    require_role(caller, "admin")
    result = service.verify_chain(session, hub.keyring)
    segments = [ChainSegment(**vars(segment)) for segment in result.segments]
    return ChainStatus(**{**vars(result), "segments": segments})

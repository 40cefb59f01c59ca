"""Member contracts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from exchange_hub.request_body import RequestBody


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: str
    region: str
    department: str | None
    key_id: str
    signs_requests: bool
    person_data_grant: bool
    push_url: str | None
    active: bool
    created_at: datetime
    revoked_at: datetime | None


class MemberList(BaseModel):
    items: list[MemberRead]


class MemberIssued(BaseModel):
    """A member with its API key; the key is shown once and never stored in clear."""

    member: MemberRead
    api_key: str


class MemberCreate(RequestBody):
    name: str = Field("", max_length=200)
    role: str = Field(max_length=12)
    region: str = Field(max_length=6)
    department: str | None = Field(None, max_length=40)
    public_key: str | None = Field(None, max_length=64)


class PushEndpoint(RequestBody):
    url: str | None = Field(
        None, max_length=500, description="https URL on the allowlist; null removes it"
    )

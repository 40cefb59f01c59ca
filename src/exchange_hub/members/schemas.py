"""Member contracts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from exchange_hub.request_body import COUNTY_CODE, RegionCode, RequestBody
from exchange_hub.scope import DEPARTMENTS, ROLES


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


# Ed25519 in base64url | SM2 as (04)||X||Y hex | SM2 (or Ed25519) as PEM; crypto checks the key.
PUBLIC_KEY = (
    r"^([A-Za-z0-9_-]{43}=?|(04)?[0-9A-Fa-f]{128}"
    r"|-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\r\n]{20,400}-----END PUBLIC KEY-----\r?\n?)$"
)


class MemberCreate(RequestBody):
    """A member: county and department systems sit in a county; admins in any region."""

    model_config = ConfigDict(
        json_schema_extra={
            # members.service._check_role
            "anyOf": [
                {
                    "properties": {
                        "role": {"const": "department"},
                        "region": {"pattern": COUNTY_CODE},
                        "department": {"type": "string"},
                    },
                    "required": ["department"],
                },
                {
                    "properties": {
                        "role": {"const": "county"},
                        "region": {"pattern": COUNTY_CODE},
                        "department": {"type": "null"},
                    },
                },
                {"properties": {"role": {"const": "admin"}, "department": {"type": "null"}}},
            ]
        }
    )

    name: str = Field("", max_length=200)
    role: Literal[ROLES]  # type: ignore[valid-type]
    region: RegionCode
    department: Literal[DEPARTMENTS] | None = None  # type: ignore[valid-type]
    public_key: str | None = Field(
        None,
        max_length=600,
        pattern=PUBLIC_KEY,
        description="Ed25519 (32 bytes, base64url), or SM2: 04||X||Y in hex (130 digits; "
        "X||Y alone: 128) or PEM (SubjectPublicKeyInfo). Requests are then signed with it.",
    )


PORT = r"([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL_CHARACTERS = r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]"
# An absolute http(s) URL without user info or fragment (``exchange.push_urls``); that
# it is https, and its host on the operator's allowlist, the hub checks against settings.
PUSH_URL = rf"^https?://[A-Za-z0-9.-]+(:{PORT})?(/{URL_CHARACTERS}*)?(\?({URL_CHARACTERS}|\?)*)?$"


class PushEndpoint(RequestBody):
    url: str | None = Field(
        None,
        max_length=500,
        pattern=PUSH_URL,
        description="https URL on the operator's allowlist; null removes it",
    )


class Me(BaseModel):
    """The calling member, as its API key names it."""

    name: str
    role: str
    region: str
    department: str | None

"""Who may act where (SPEC §6): callers and the region scopes they hold."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from exchange_hub.errors import Forbidden

Role = Literal["county", "department", "admin"]
ROLES: tuple[Role, ...] = ("county", "department", "admin")
DEPARTMENTS = (
    "police",
    "civil_affairs",
    "health",
    "human_resources",
    "housing",
    "market_regulation",
    "education",
    "transport",
)
NATION = "000000"


def region_in_scope(scope: str, code: str) -> bool:
    """Is ``code`` inside the region ``scope`` (nation, province, prefecture or county)?"""
    return code.startswith(scope_prefix(scope))


def scope_prefix(scope: str) -> str:
    """The code prefix shared by every region inside ``scope`` ("" for the nation)."""
    if scope == NATION:
        return ""
    if scope.endswith("0000"):
        return scope[:2]
    if scope.endswith("00"):
        return scope[:4]
    return scope


@dataclass(frozen=True)
class Caller:
    """The authenticated member behind a request, job step or console session."""

    member_id: uuid.UUID | None
    name: str
    role: Role
    region: str
    department: str | None = None
    person_data_grant: bool = False

    @property
    def label(self) -> str:
        return f"{self.role}:{self.region}:{self.name}"

    def covers(self, code: str) -> bool:
        return region_in_scope(self.region, code)


def require_role(caller: Caller, *roles: Role) -> None:
    if caller.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {caller.role}")


def require_scope(caller: Caller, code: str, *, field: str = "region") -> None:
    if not caller.covers(code):
        raise Forbidden(f"region {code} is outside your scope {caller.region}", field=field)


def require_admin_over(caller: Caller, code: str, *, field: str = "region") -> None:
    require_role(caller, "admin")
    require_scope(caller, code, field=field)

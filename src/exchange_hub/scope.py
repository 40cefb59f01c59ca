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


class RoleRequired(Forbidden):
    """The caller's role may not do this; the console words it from ``roles`` and ``actual``."""

    def __init__(self, roles: tuple[str, ...], actual: str) -> None:
        super().__init__(f"this needs the role {' or '.join(roles)}; you are {actual}")
        self.roles, self.actual = roles, actual


class OutsideScope(Forbidden):
    """A region outside the caller's scope; the console words it from ``code`` and ``scope``."""

    def __init__(self, code: str, scope: str, *, field: str) -> None:
        super().__init__(f"region {code} is outside your scope {scope}", field=field)
        self.code, self.scope = code, scope


def require_role(caller: Caller, *roles: Role) -> None:
    if caller.role not in roles:
        raise RoleRequired(roles, caller.role)


def require_scope(caller: Caller, code: str, *, field: str = "region") -> None:
    if not caller.covers(code):
        raise OutsideScope(code, caller.region, field=field)


def require_admin_over(caller: Caller, code: str, *, field: str = "region") -> None:
    require_role(caller, "admin")
    require_scope(caller, code, field=field)


def person_scope(caller: Caller, *, looking_up: bool = False) -> str:
    """The code prefix of the regions whose persons the caller may see (SPEC §6).

    A record is visible when one of the regions it names (registering county,
    other county, household registration, residence) starts with it; every
    read of records applies it (``records.repository.visible_within``).

    - a county: its own county; a look-up reaches the whole nation (""),
      which is what a look-up is for (SPEC §3) — its answer carries no
      person data, only grade, kind, registering county, status and
      certificate status;
    - an admin with the person-data grant: its region ("" for the nation);
    - a department, or an admin without the grant: 403 before anything is read.
    """
    if caller.role == "department":
        raise Forbidden("department reporters do not read person records")
    if caller.role == "admin" and not caller.person_data_grant:
        raise Forbidden("reading person data needs a person-data grant")
    if caller.role == "county":
        return "" if looking_up else caller.region
    return scope_prefix(caller.region)

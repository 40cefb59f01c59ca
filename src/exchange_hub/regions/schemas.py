"""Region contract (SPEC §9)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class RegionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    level: Literal["nation", "province", "prefecture", "county"]
    parent: str | None
    active: bool


class RegionList(BaseModel):
    items: list[RegionRead]

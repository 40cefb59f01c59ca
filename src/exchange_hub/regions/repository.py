"""Region queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange_hub.models import Region


def get_region(session: Session, code: str) -> Region | None:
    return session.get(Region, code)


def children(session: Session, parent: str) -> Sequence[Region]:
    return session.scalars(
        select(Region).where(Region.parent == parent).order_by(Region.code)
    ).all()


def all_regions(session: Session) -> Sequence[Region]:
    return session.scalars(select(Region)).all()


def level_and_activity_by_code(session: Session) -> dict[str, tuple[str, bool]]:
    """The whole catalogue as ``code → (level, active)``."""
    rows = session.execute(select(Region.code, Region.level, Region.active))
    return {code: (level, active) for code, level, active in rows}


def current_county_codes_under(session: Session, prefix: str) -> list[str]:
    """The codes of the current counties whose code starts with ``prefix``, in order."""
    query = select(Region.code).where(
        Region.level == "county", Region.active.is_(True), Region.code.like(f"{prefix}%")
    )
    return sorted(session.scalars(query).all())


def names_of(session: Session, codes: Sequence[str]) -> dict[str, str]:
    rows = session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    return {code: name for code, name in rows}

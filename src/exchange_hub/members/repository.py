"""Queries of the members (``members``). Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange_hub.models import Member


def members_by_region(session: Session) -> Sequence[Member]:
    """Every member, by region and then in the order they were created."""
    return session.scalars(select(Member).order_by(Member.region, Member.created_at)).all()


def member_with_key_id(session: Session, key_id: str) -> Member | None:
    return session.scalar(select(Member).where(Member.key_id == key_id))


def member_named(session: Session, name: str) -> Member | None:
    """The member called ``name`` (the first one, should several share it)."""
    return session.scalar(select(Member).where(Member.name == name))

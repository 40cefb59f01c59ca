"""Queries of the metrics domain beside the figures' own (``figures_repository``,
``aggregates_repository``): data quality of records, region names, demo traffic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, insert, select
from sqlalchemy.orm import Session, aliased

from exchange_hub.metrics.figures_repository import code_range, level_column
from exchange_hub.models import Message, Region
from exchange_hub.models.record import Record, any_status


def record_quality_counts(
    session: Session, *, scope: str, start: datetime, end: datetime, level: str
) -> dict[str, tuple[int, int, int, int, int]]:
    """Per region at ``level`` inside ``scope``, of the records created in ``[start, end)``:
    records, flagged ID numbers, inflows, inflows without hukou region, unmatched inflows."""
    outflow = aliased(Record)
    is_inflow = Record.kind == "inflow"
    same_person = any_status(outflow.status, outflow.id_index == Record.id_index)
    matched = exists().where(outflow.kind == "outflow", same_person)
    item = level_column(Record.registering_region.expression, level).label("item")
    query = select(
        item,
        func.count(),
        _count(Record.id_check_flagged.is_(True)),
        _count(is_inflow),
        _count(and_(is_inflow, Record.hukou_missing.is_(True))),
        _count(and_(is_inflow, ~matched)),
    ).where(Record.created_at >= start, Record.created_at < end)
    bounds = code_range(scope)
    if bounds is not None:
        query = query.where(
            Record.registering_region >= bounds[0], Record.registering_region < bounds[1]
        )
    rows = session.execute(query.group_by(item)).all()
    return {
        row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5])) for row in rows
    }


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet ``condition`` (0, not NULL, for none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def active_region_names(session: Session, scope: str, level: str) -> dict[str, str]:
    """code → name of the current regions at ``level`` inside ``scope``."""
    query = select(Region.code, Region.name).where(Region.level == level, Region.active.is_(True))
    bounds = code_range(scope)
    if bounds is not None:
        query = query.where(Region.code >= bounds[0], Region.code < bounds[1])
    return {code: name for code, name in session.execute(query).all()}


def names_of_regions(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """code → name of these regions, current or not."""
    query = select(Region.code, Region.name).where(Region.code.in_(list(codes)))
    return {code: name for code, name in session.execute(query).all()}


def province_names(session: Session) -> dict[str, str]:
    query = select(Region.code, Region.name).where(Region.level == "province")
    return {code: name for code, name in session.execute(query).all()}


def has_message_with_case_prefix(session: Session, prefix: str) -> bool:
    query = select(Message.id).where(Message.case_ref.like(f"{prefix}%")).limit(1)
    return session.scalar(query) is not None


def active_county_codes(session: Session) -> set[str]:
    query = select(Region.code).where(Region.level == "county", Region.active)
    return set(session.scalars(query))


def insert_messages(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert message rows in bulk (executemany, 1000 at a time)."""
    for start in range(0, len(rows), 1000):
        session.execute(insert(Message), rows[start : start + 1000])

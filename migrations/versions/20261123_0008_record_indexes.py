"""Cheaper indexes on records: what a batch of new active rows has to maintain.

- ``ix_records_id_index`` (every row) goes; ``id_index`` is served by two
  partial indexes that split the table: ``uq_records_active_person``, now
  leading with ``id_index``, and ``ix_records_id_index_retired`` on the
  rows that are not active (never touched by new rows);
- ``ix_records_county_updated`` (registering_region, updated_at) serves the
  per-county queries and the batch's change-feed append;
- on PostgreSQL ``id_index`` and ``name_index`` (ASCII hex) compare bytewise,
  ``COLLATE "C"``, instead of through the database's locale.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")
RETIRED = sa.text("status <> 'active'")
BLIND_INDEX_COLUMNS = ("id_index", "name_index")


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("uq_records_active_person")
        batch_op.drop_index("ix_records_id_index")
    _set_collation(sa.String(length=90, collation="C"), sa.String(length=90))
    with op.batch_alter_table("records", schema=None) as batch_op:
        _create_unique_active_person(batch_op, ["id_index", "kind", "registering_region"])
        batch_op.create_index(
            "ix_records_id_index_retired",
            ["id_index"],
            unique=False,
            postgresql_where=RETIRED,
            sqlite_where=RETIRED,
        )
        batch_op.create_index(
            "ix_records_county_updated", ["registering_region", "updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_county_updated")
        batch_op.drop_index("ix_records_id_index_retired")
        batch_op.drop_index("uq_records_active_person")
    _set_collation(sa.String(length=90), sa.String(length=90, collation="C"))
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index("ix_records_id_index", ["id_index"], unique=False)
        _create_unique_active_person(batch_op, ["registering_region", "kind", "id_index"])


def _create_unique_active_person(batch_op: BatchOperations, columns: list[str]) -> None:
    """At most one active record per (registering county, kind, person)."""
    batch_op.create_index(
        "uq_records_active_person",
        columns,
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )


def _set_collation(type_: sa.String, existing: sa.String) -> None:
    """PostgreSQL only (SQLite compares bytewise already); rebuilds ix_records_name_lookup."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in BLIND_INDEX_COLUMNS:
        op.alter_column(
            "records", column, type_=type_, existing_type=existing, existing_nullable=False
        )

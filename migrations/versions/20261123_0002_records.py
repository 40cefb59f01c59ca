"""Person records (outflow 流出登记 / inflow 流入登记) and their superseded versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = exchange_hub.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=14), nullable=False),
        sa.Column("registering_region", sa.String(length=6), nullable=False),
        sa.Column("other_region", sa.String(length=6), nullable=True),
        sa.Column("hukou_region", sa.String(length=6), nullable=True),
        sa.Column("residence_region", sa.String(length=6), nullable=True),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("id_index", sa.String(length=90), nullable=False),
        sa.Column("name_index", sa.String(length=90), nullable=False),
        sa.Column("content_index", sa.String(length=90), nullable=False),
        sa.Column("data_key_id", sa.String(length=40), nullable=False),
        sa.Column("id_number_enc", sa.Text(), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("address_enc", sa.Text(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("ethnicity", sa.String(length=2), nullable=True),
        sa.Column("marital_status", sa.String(length=2), nullable=True),
        sa.Column("moved_on", sa.Date(), nullable=True),
        sa.Column("certificate_number", sa.String(length=40), nullable=True),
        sa.Column("certificate_issued_by", sa.String(length=6), nullable=True),
        sa.Column("certificate_issued_on", sa.Date(), nullable=True),
        sa.Column("certificate_valid_until", sa.Date(), nullable=True),
        sa.Column("certificate_checked", sa.Boolean(), nullable=True),
        sa.Column("children_count", sa.Integer(), nullable=True),
        sa.Column("contraception", sa.String(length=16), nullable=True),
        sa.Column("pregnancy_status", sa.String(length=16), nullable=True),
        sa.Column("last_birth_date", sa.Date(), nullable=True),
        sa.Column("key_object", sa.Boolean(), nullable=False),
        sa.Column("key_reasons", sa.String(length=100), nullable=True),
        sa.Column("id_check_flagged", sa.Boolean(), nullable=False),
        sa.Column("id_converted", sa.Boolean(), nullable=False),
        sa.Column("hukou_missing", sa.Boolean(), nullable=False),
        sa.Column("deregister_reason", sa.String(length=16), nullable=True),
        sa.Column("deregistered_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("version_action", sa.String(length=14), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_records_id_index"), ["id_index"], unique=False)
        batch_op.create_index("ix_records_name_lookup", ["name_index", "birth_date"], unique=False)
        batch_op.create_index(
            "uq_records_active_person",
            ["registering_region", "kind", "id_index"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "record_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=14), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("data_key_id", sa.String(length=40), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_record_versions_record_id_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_versions")),
    )
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_record_versions_data_key_id"), ["data_key_id"], unique=False
        )
        batch_op.create_index("uq_record_versions_version", ["record_id", "version"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_record_versions_version")
        batch_op.drop_index(batch_op.f("ix_record_versions_data_key_id"))
    op.drop_table("record_versions")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("uq_records_active_person")
        batch_op.drop_index("ix_records_name_lookup")
        batch_op.drop_index(batch_op.f("ix_records_id_index"))
    op.drop_table("records")

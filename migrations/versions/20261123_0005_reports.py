"""Department monthly reports: reporting pairs, reports and their versions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_pairs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("active_from", sa.Date(), nullable=False),
        sa.Column("active_until", sa.Date(), nullable=True),
        sa.Column(
            "created_at", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_pairs")),
    )
    op.create_index(
        "ix_report_pairs_region_department", "report_pairs", ["region", "department"], unique=False
    )

    op.create_table(
        "department_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("deadline", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "first_submitted_at",
            exchange_hub.models.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("zero", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column(
            "updated_at", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department_reports")),
        sa.UniqueConstraint(
            "region",
            "department",
            "period",
            name="uq_department_reports_region_department_period",
        ),
    )
    op.create_index(
        "ix_department_reports_period_region",
        "department_reports",
        ["period", "region"],
        unique=False,
    )

    op.create_table(
        "department_report_versions",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("zero", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column(
            "submitted_at", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("submitted_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["department_reports.id"],
            name=op.f("fk_department_report_versions_report_id_department_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "version", name=op.f("pk_department_report_versions")),
    )


def downgrade() -> None:
    op.drop_table("department_report_versions")
    op.drop_index("ix_department_reports_period_region", table_name="department_reports")
    op.drop_table("department_reports")
    op.drop_index("ix_report_pairs_region_department", table_name="report_pairs")
    op.drop_table("report_pairs")

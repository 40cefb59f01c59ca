"""Exchange figures: maintained aggregates (counts, pending by deadline, latency histograms).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = exchange_hub.models.base.UTCDateTime(timezone=True)


def _key_columns() -> list[sa.Column]:
    return [
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "metrics_exchange",
        *_key_columns(),
        sa.Column("counterpart", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("routed", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("answered_on_time", sa.Integer(), nullable=False),
        sa.Column("not_found", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "role", "period", "region", "counterpart", "kind",
            name=op.f("pk_metrics_exchange"),
        ),
    )  # fmt: skip
    op.create_table(
        "metrics_pending",
        *_key_columns(),
        sa.Column("counterpart", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("deadline", UTC, nullable=False),
        sa.Column("unanswered", sa.Integer(), nullable=False),
        sa.Column("unreceived", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "role", "period", "region", "counterpart", "kind", "deadline",
            name=op.f("pk_metrics_pending"),
        ),
    )  # fmt: skip
    op.create_table(
        "metrics_latency",
        *_key_columns(),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("leg", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("buckets", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "role", "period", "region", "kind", "leg", name=op.f("pk_metrics_latency")
        ),
    )
    op.create_table(
        "metrics_refresh_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("watermark", UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_metrics_refresh_state")),
    )
    op.create_table(
        "metrics_applied",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_metrics_applied")),
    )
    with op.batch_alter_table("metrics_applied", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_metrics_applied_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("metrics_applied", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metrics_applied_updated_at"))
    op.drop_table("metrics_applied")
    op.drop_table("metrics_refresh_state")
    op.drop_table("metrics_latency")
    op.drop_table("metrics_pending")
    op.drop_table("metrics_exchange")

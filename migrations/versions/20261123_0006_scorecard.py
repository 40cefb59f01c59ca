"""Two-way assessment: a province's own targets and weights.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scorecard_settings",
        sa.Column("province", sa.String(length=6), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column(
            "changed_at", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("province", "key", name=op.f("pk_scorecard_settings")),
    )


def downgrade() -> None:
    op.drop_table("scorecard_settings")

"""Counters of repeated failed authentications, audited once per interval (issue 15).

``seen_signatures.digest`` keeps its type, but what it holds changes from the
SHA-256 of the signature header to ``deps.replay_key`` (the member and what it
signed), which cannot be computed from the old rows: a request accepted in the
``HUB_SIGNATURE_WINDOW_SECONDS`` before the upgrade is not recognised as a
replay after it. Stop the API for that long before upgrading to close the gap;
the old rows are purged by ``exchange.purge_seen_signatures`` as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_failure_counts",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column(
            "window_start", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=True),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("last_at", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "window_start", name=op.f("pk_auth_failure_counts")),
    )
    with op.batch_alter_table("auth_failure_counts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_failure_counts_window_start"), ["window_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_failure_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_failure_counts_window_start"))
    op.drop_table("auth_failure_counts")

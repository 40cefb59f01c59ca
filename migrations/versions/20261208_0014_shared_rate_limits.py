"""Rate-limit windows shared by every node (issue 18).

Per-member and per-address limits were token buckets in each process's
memory; on PostgreSQL without ``HUB_REDIS_URL`` they are now kept in this
table, one row per key and its current window (``ratelimits``).

UNLOGGED on PostgreSQL: a rate-limit check is a commit per request, and an
unlogged table's commit writes no WAL to flush. The table is neither
replicated nor kept across a crash (it starts empty, forgetting the open
windows); nothing but the limits reads it.

Revision ID: shared_limits_0014
Revises: console_texts_0013
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "shared_limits_0014"
down_revision: str | None = "console_texts_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "rate_limit_windows",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("ends_at", exchange_hub.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_rate_limit_windows")),
        prefixes=["UNLOGGED"] if postgres else [],
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows")

"""The national cryptography profile (issue 19).

Members may register SM2 public keys (04||X||Y hex, 130 characters), so
``members.public_key`` grows from 64 to 200 characters. ``crypto_reencrypt``
holds the progress of the re-encryption job (``reencrypt.move_rows``) per table:
the key it moves rows to, the last primary key done, and the counts.

Revision ID: national_crypto_0016
Revises: console_oidc_0015
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "national_crypto_0016"
down_revision: str | None = "console_oidc_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.alter_column(
            "public_key", existing_type=sa.String(64), type_=sa.String(200), existing_nullable=True
        )
    op.create_table(
        "crypto_reencrypt",
        sa.Column("table_name", sa.String(40), primary_key=True),
        sa.Column("target", sa.String(60), nullable=False),
        sa.Column("after", sa.String(80), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("finished_at", exchange_hub.models.base.UTCDateTime(), nullable=True),
        sa.Column("updated_at", exchange_hub.models.base.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crypto_reencrypt")
    with op.batch_alter_table("members") as batch:
        batch.alter_column(
            "public_key", existing_type=sa.String(200), type_=sa.String(64), existing_nullable=True
        )

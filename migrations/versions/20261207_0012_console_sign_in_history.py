"""Console users: where the last sign-ins came from, and when the password last changed.

我的账号 shows the sign-in before the current one (time and address) so a
user notices a sign-in that was not theirs, and the password change records
its time.

Revision ID: console_texts_0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "console_texts_0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = exchange_hub.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_sign_in_client", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_sign_in_at", _WHEN, nullable=True))
        batch_op.add_column(
            sa.Column("previous_sign_in_client", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("password_changed_at", _WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("previous_sign_in_client")
        batch_op.drop_column("previous_sign_in_at")
        batch_op.drop_column("last_sign_in_client")

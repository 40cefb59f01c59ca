"""Sign-in through the province's identity provider (统一身份认证, OpenID Connect; issue 20).

Console users may be linked to the provider's subject (``oidc_subject``), or
made by the claim mapping (``claims_managed``); an admin may lock an account
on the console's user page (``locked_by``, ``locked_at``). A session records
the subject it came from, and sign-ins under way keep the OIDC client's state
(state, nonce, PKCE verifier) in ``console_oidc_sign_ins``.

Revision ID: console_oidc_0015
Revises: shared_limits_0014
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base

revision: str = "console_oidc_0015"
down_revision: str | None = "shared_limits_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = exchange_hub.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("claims_managed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("locked_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("locked_at", _WHEN, nullable=True))
        batch_op.create_unique_constraint("uq_console_users_oidc_subject", ["oidc_subject"])
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
    op.create_table(
        "console_oidc_sign_ins",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_state", sa.JSON(), nullable=False),
        sa.Column("next_path", sa.String(length=2000), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_oidc_sign_ins")),
    )
    op.create_index(
        op.f("ix_console_oidc_sign_ins_created_at"),
        "console_oidc_sign_ins",
        ["created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_console_oidc_sign_ins_created_at"), table_name="console_oidc_sign_ins")
    op.drop_table("console_oidc_sign_ins")
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_column("oidc_subject")
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_console_users_oidc_subject", type_="unique")
        batch_op.drop_column("locked_at")
        batch_op.drop_column("locked_by")
        batch_op.drop_column("claims_managed")
        batch_op.drop_column("oidc_subject")

"""Idempotent answers encrypted at rest (issue 15, finding 2).

``idempotency_keys.response`` (JSON, in clear: a record's name, ID number,
phone and address) becomes ``response_enc``, the answer encrypted by the
application under the key ring with its member and key as associated data;
``request_hash`` becomes an HMAC (``HS256.<kid>.<hex>``, 90 characters).

A migration has no keys, so the answers stored so far cannot be encrypted
here. They are dropped, with their unkeyed request hashes, and their rows
marked ``expired``: the key still exists, so a retry with it is refused with
409 ("no longer kept") instead of running the write a second time. Keys are
retried within seconds or minutes, so only a client retrying across the
upgrade meets this; it reads the resource or sends with a new key.

Downgrade keeps the rows and their refusal (the old code answers 422, since
the empty hash matches no request) and drops the encrypted answers: the old
code reads only plaintext answers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _expire_every_key(answer_column: str) -> None:
    """Every row expired, its hash and answer emptied first: PostgreSQL's DROP COLUMN
    leaves the values in the rows, an UPDATE leaves them only in dead row versions,
    which VACUUM reclaims (``VACUUM FULL idempotency_keys`` rewrites the table)."""
    keys = sa.table(
        "idempotency_keys",
        sa.column("state", sa.String),
        sa.column("request_hash", sa.String),
        sa.column(answer_column),
    )
    op.execute(keys.update().values({"state": "expired", "request_hash": "", answer_column: None}))


def upgrade() -> None:
    _expire_every_key("response")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("response")
        batch_op.add_column(sa.Column("response_enc", sa.Text(), nullable=True))
        batch_op.alter_column(
            "request_hash",
            existing_type=sa.String(length=64),
            type_=sa.String(length=90),
            existing_nullable=False,
        )


def downgrade() -> None:
    _expire_every_key("response_enc")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "request_hash",
            existing_type=sa.String(length=90),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch_op.drop_column("response_enc")
        batch_op.add_column(sa.Column("response", sa.JSON(), nullable=True))

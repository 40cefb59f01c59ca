"""Hong Kong and Macao in simplified characters, as the zh-CN console shows them (issue 17).

python-stdnum's ``loc.dat`` spells the two provinces in traditional
characters; ``region_codes.SIMPLIFIED_NAMES`` now maps them when the
catalogue is read, and this revision fixes databases loaded before.

Revision ID: console_texts_0013
Revises: console_texts_0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "console_texts_0013"
down_revision: str | None = "console_texts_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled here, not imported: a migration keeps doing what it did when it was written.
_NAMES = {
    "810000": ("香港特別行政區", "香港特别行政区"),
    "820000": ("澳門特別行政區", "澳门特别行政区"),
}
_regions = sa.table("regions", sa.column("code", sa.String), sa.column("name", sa.String))


def _rename(pick: int) -> None:
    for code, names in _NAMES.items():
        op.execute(
            _regions.update()
            .where(_regions.c.code == code, _regions.c.name == names[1 - pick])
            .values(name=names[pick])
        )


def upgrade() -> None:
    _rename(1)


def downgrade() -> None:
    _rename(0)

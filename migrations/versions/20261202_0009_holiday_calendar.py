"""The holiday calendar the operator owns; messages keep their deadline's basis.

- ``calendar_days`` (official rest days and make-up working days),
  ``calendar_years`` (the years whose arrangement is loaded) and
  ``calendar_revision`` (one row, bumped by every load), filled with what the
  installed ``chinese-calendar`` package publishes;
- ``messages.deadline_basis``: ``weekends_only`` for the existing messages
  whose deadline lies in a year the package does not cover, else ``official``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import exchange_hub.models.base
from exchange_hub import clock
from exchange_hub.holidays.package import package_days, package_source, package_years

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = exchange_hub.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    _create_tables()
    now, source = clock.now(), package_source()
    days = [
        {"date": day, "kind": kind, "name": name, "source": source, "loaded_at": now}
        for day, kind, name in package_days()
    ]
    years = package_years()
    _insert("calendar_days", days, date=sa.Date(), loaded_at=UTC_DATETIME)
    _insert(
        "calendar_years",
        [{"year": year, "source": source, "loaded_at": now} for year in years],
        year=sa.Integer(), loaded_at=UTC_DATETIME,
    )  # fmt: skip
    _insert(
        "calendar_revision",
        [{"id": 1, "revision": 1, "changed_at": now}],
        id=sa.Integer(), revision=sa.Integer(), changed_at=UTC_DATETIME,
    )  # fmt: skip
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "deadline_basis", sa.String(length=14), server_default="official", nullable=False
            )
        )
    _mark_uncovered_deadlines(years)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("deadline_basis")
    op.drop_table("calendar_revision")
    op.drop_table("calendar_years")
    op.drop_table("calendar_days")


def _create_tables() -> None:
    op.create_table(
        "calendar_days",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("loaded_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("kind IN ('holiday', 'workday')", name=op.f("ck_calendar_days_kind")),
        sa.PrimaryKeyConstraint("date", name=op.f("pk_calendar_days")),
    )
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("loaded_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_years")),
    )
    op.create_table(
        "calendar_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_revision")),
    )


def _insert(table: str, rows: list[dict[str, object]], **types: sa.types.TypeEngine) -> None:
    """Rows into ``table``; columns not typed in ``types`` are strings."""
    columns = [sa.column(name, types.get(name, sa.String())) for name in rows[0]]
    op.bulk_insert(sa.table(table, *columns), rows)


def _mark_uncovered_deadlines(years: list[int]) -> None:
    """A deadline in a year the package does not cover was computed on the weekends."""
    if not years:
        return
    messages = sa.table(
        "messages", sa.column("deadline", UTC_DATETIME), sa.column("deadline_basis", sa.String())
    )
    covered = set(years)
    outside = [
        sa.and_(
            messages.c.deadline >= _year_start(year), messages.c.deadline < _year_start(year + 1)
        )
        for year in range(min(covered), max(covered) + 1)
        if year not in covered
    ]
    outside += [
        messages.c.deadline < _year_start(min(covered)),
        messages.c.deadline >= _year_start(max(covered) + 1),
    ]
    op.execute(messages.update().where(sa.or_(*outside)).values(deadline_basis="weekends_only"))


def _year_start(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=clock.SHANGHAI)

"""The migration that creates the calendar: the package's arrangement, and the basis of the
deadlines of messages that existed before it."""

from __future__ import annotations

from sqlalchemy import select

from exchange_hub import migrations_util
from exchange_hub.db import make_engine, make_sessionmaker, transaction
from exchange_hub.holidays.package import package_days, package_source, package_years
from exchange_hub.models import CalendarDay, CalendarYear, Message
from tests.holidays.helpers import end_of, shanghai
from tests.metrics.factories import make_message


def test_existing_deadlines_in_years_the_package_does_not_cover_are_weekends_only(
    database_url: str,
) -> None:
    _downgrade(database_url)  # the clone is at head: back to before the calendar
    last = max(package_years())
    deadlines = {
        "inside": end_of(f"{last}-12-31"),
        "after": end_of(f"{last + 1}-01-04"),
        "just after": shanghai(f"{last + 1}-01-01 00:00"),
    }
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            ids = {
                name: make_message(session, submitted_at=shanghai(f"{last}-12-01 10:00"),
                                   deadline=deadline)["id"]
                for name, deadline in deadlines.items()
            }  # fmt: skip
        migrations_util.upgrade(database_url)
        with make_sessionmaker(engine)() as session:
            basis = {name: session.get(Message, ids[name]).deadline_basis for name in ids}  # type: ignore[union-attr]
            days = session.execute(select(CalendarDay.date, CalendarDay.kind, CalendarDay.name))
            sources = set(session.scalars(select(CalendarDay.source)))
            years = list(session.scalars(select(CalendarYear.year).order_by(CalendarYear.year)))
            assert sorted(days) == package_days() and sources == {package_source()}
    finally:
        engine.dispose()
    assert basis == {"inside": "official", "after": "weekends_only", "just after": "weekends_only"}
    assert years == package_years()
    assert "春节" in {name for _day, _kind, name in package_days()}


def _downgrade(database_url: str) -> None:
    from alembic import command

    command.downgrade(migrations_util.alembic_config(database_url), "0008")

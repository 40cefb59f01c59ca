"""Loading the 2027 test arrangement (tests/fixtures/calendar-2027-test.csv: made up for the
tests, shaped like the State Council's notice) and reading times in Beijing time."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import delete

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.holidays import service
from exchange_hub.holidays.service import LoadResult
from exchange_hub.models import CalendarDay, CalendarYear
from exchange_hub.scope import NATION, Caller
from exchange_hub.workdays import SHANGHAI
from exchange_hub.workdays_store import bump_revision
from tests.fixtures.hub import MemberKey

FIXTURE = Path(__file__).parents[1] / "fixtures" / "calendar-2027-test.csv"
OPERATOR = Caller(member_id=None, name="cli", role="admin", region=NATION)
CSV = {"Content-Type": "text/csv; charset=utf-8"}


def shanghai(text: str) -> datetime:
    """``2027-02-15 23:59:59.999999`` read in Beijing time."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def end_of(day: str) -> datetime:
    return shanghai(f"{day} 23:59:59.999999")


def load_fixture(hub: HubContext, data: bytes | None = None) -> LoadResult:
    """Load the 2027 test arrangement as the operator's CLI does (one transaction)."""
    with transaction(hub.sessions) as session:
        return service.load_calendar_file(
            session, OPERATOR, data=data or FIXTURE.read_bytes(), source=f"file:{FIXTURE.name}"
        )


def post_calendar(client: TestClient, admin: MemberKey, data: bytes) -> object:
    return client.post("/api/v1/calendar", content=data, headers={**admin.headers, **CSV})


def arrangement_until(hub: HubContext, year: int) -> None:
    """The table as chinese-calendar 1.11.0 left it, whatever a newer package publishes:
    no arrangement after ``year``."""
    with transaction(hub.sessions) as session:
        session.execute(delete(CalendarDay).where(CalendarDay.date > date(year, 12, 31)))
        session.execute(delete(CalendarYear).where(CalendarYear.year > year))
        bump_revision(session, clock.now())

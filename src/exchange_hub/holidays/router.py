"""``/api/v1/calendar``: the holiday arrangement, read by every member, loaded by the nation admin.

``POST /api/v1/calendar`` takes the same CSV as ``exchange-hub calendar load``
(``Content-Type: text/csv``; header ``date,kind,name``) and loads all of it or,
when any line is bad, nothing: a 422 problem document lists every bad line
(``errors[].field`` is ``lines[N].date``, ``lines[N].kind`` …, N the line
number with the header as line 1). Loading the same file again changes
nothing, so a retry is harmless.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from exchange_hub import clock
from exchange_hub.deps import CurrentCaller, DbSession, ReadSession
from exchange_hub.errors import UnsupportedMediaType
from exchange_hub.holidays import service
from exchange_hub.holidays.notice import FIRST_YEAR, LAST_YEAR
from exchange_hub.holidays.schemas import CalendarLoaded, CalendarYearRead, loaded_read, year_read

router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"])
_CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "The State Council's arrangement as CSV: header date,kind,name; kind "
        "holiday (official rest day) or workday (a Saturday or Sunday worked, 补班); UTF-8, "
        "with or without BOM.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get("/{year}", response_model=CalendarYearRead)
def read_year(
    session: ReadSession,
    caller: CurrentCaller,
    year: int = Path(ge=FIRST_YEAR, le=LAST_YEAR, description="e.g. 2027"),
) -> CalendarYearRead:
    """A year's official rest days and make-up working days, and whether it is covered."""
    return year_read(service.show_year(session, year=year, today=clock.today()))


@router.post("", response_model=CalendarLoaded, openapi_extra=_CSV_BODY)
async def load_calendar(
    request: Request, session: DbSession, caller: CurrentCaller
) -> CalendarLoaded:
    """Load the arrangement (nation admin only; audited); recomputes the deadlines it moves."""
    service.require_nation_admin(caller)
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in ("text/csv", "application/csv"):
        raise UnsupportedMediaType("send the calendar as text/csv", field="Content-Type")
    data = await request.body()
    source = f"admin:{caller.member_id}"
    result = await run_in_threadpool(
        service.load_calendar_file, session, caller, data=data, source=source
    )
    return loaded_read(result)

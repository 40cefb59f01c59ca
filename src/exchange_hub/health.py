"""Liveness and readiness (no authentication).

``/readyz`` also reports the holiday calendar: ``calendar_covered_until`` (the
last day of the unbroken run of years whose official arrangement is loaded)
and, when the next 60 days are not all covered, ``calendar_warning``. That is
a warning, never a failure: deadlines still fall back to the weekends.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.db import ping
from exchange_hub.deps import Hub
from exchange_hub.migrations_util import current_and_head
from exchange_hub.workdays_store import calendar_status

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    database: str
    migration: str | None = None
    head: str | None = None


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {"model": Readiness, "description": "database unreachable, or migrations pending"}
    },
)
def readyz(hub: Hub) -> JSONResponse:
    try:
        with hub.engine.connect() as conn:
            ping(conn)
            current, head = current_and_head(conn)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    body = {"status": "ok", "database": "ok", "migration": current, "head": head}
    if current != head:
        body["status"] = "migrations pending"
        return JSONResponse(body, status_code=503)
    return JSONResponse({**body, **_calendar(hub)})


def _calendar(hub: HubContext) -> dict[str, str | None]:
    try:
        with hub.read_sessions() as session:
            status = calendar_status(session, clock.today())
    except SQLAlchemyError:
        return {"calendar_covered_until": None, "calendar_warning": "the calendar is unreadable"}
    until = status.covered_until.isoformat() if status.covered_until else None
    report: dict[str, str | None] = {"calendar_covered_until": until}
    if not status.next_days_covered:
        report["calendar_warning"] = (
            f"the official holiday arrangement is loaded only until {until}: deadlines in the "
            "next 60 days beyond it count weekends only; load the State Council's notice "
            "with `exchange-hub calendar load` or POST /api/v1/calendar"
        )
    return report

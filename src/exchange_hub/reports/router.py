"""Department monthly reports: submission (by department reporters), reading and figures."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from exchange_hub import clock, idempotency
from exchange_hub.db import data_moment
from exchange_hub.deps import CurrentCaller, DbSession, Hub, PageSize, ReadSession
from exchange_hub.params import (
    AsOfMoment,
    IdempotencyKey,
    Level,
    PeriodQuery,
    RegionQuery,
)
from exchange_hub.reports import schemas, service
from exchange_hub.reports.catalogue import load_catalogue
from exchange_hub.request_body import PERIOD
from exchange_hub.scope import DEPARTMENTS, Caller
from exchange_hub.workdays import SHANGHAI

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
PATH = "/api/v1/reports"

Department = Literal[DEPARTMENTS]  # type: ignore[valid-type]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=SHANGHAI)


@router.post("", status_code=201, response_model=schemas.ReportRead)
def submit_report(
    body: schemas.ReportSubmit,
    session: DbSession,
    caller: CurrentCaller,
    hub: Hub,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> schemas.ReportRead:
    """Submit (or correct) a monthly report; a correction keeps the first one's timeliness."""
    digest = idempotency.request_hash("POST", PATH, body.model_dump(mode="json"))
    return idempotency.answer(
        session,
        caller.member_id,
        idempotency_key,
        digest,
        lambda: _submit(session, caller, hub, body),
        model=schemas.ReportRead,
        response=response,
        status_code=201,
    )


def _submit(
    session: DbSession, caller: Caller, hub: Hub, body: schemas.ReportSubmit
) -> schemas.ReportRead:
    report = service.submit_report(
        session,
        caller,
        department=body.department,
        region=body.region,
        period=body.period,
        counts=body.counts,
        zero=body.zero,
        catalogue=load_catalogue(hub.settings.report_catalogue_file),
        due_day=hub.settings.report_due_day,
    )
    return schemas.ReportRead.model_validate(report, from_attributes=True)


@router.get("/catalogue", response_model=schemas.ReportCatalogueRead)
def read_catalogue(caller: CurrentCaller, hub: Hub) -> schemas.ReportCatalogueRead:
    """Each department's report type and its counted items (the keys of ``counts``)."""
    return schemas.catalogue_read(load_catalogue(hub.settings.report_catalogue_file))


@router.get("/rates", response_model=schemas.ReportRatesRead)
def read_rates(
    session: ReadSession,
    caller: CurrentCaller,
    region: RegionQuery,
    period: PeriodQuery,
    level: Level | None = None,
    as_of: AsOfMoment = None,
) -> schemas.ReportRatesRead:
    """Expected, received, on-time and zero reports with reporting and on-time rates."""
    rates = service.rates_for(
        session, caller, region=region, period=period, level=level, as_of=_aware(as_of)
    )
    return schemas.rates_read(rates)


@router.get("/missing", response_model=schemas.MissingReportList)
def read_missing(
    session: ReadSession,
    caller: CurrentCaller,
    hub: Hub,
    region: RegionQuery,
    period: Annotated[
        str | None, Query(pattern=PERIOD, description="default: the last 12 months")
    ] = None,
    as_of: AsOfMoment = None,
) -> schemas.MissingReportList:
    """Expected reports not received (催报), the most overdue first."""
    # Never later than a lagging replica's data: the answer's as_of says so.
    moment = data_moment(session, _aware(as_of), clock.now())
    missing = service.missing_for(
        session, caller, region=region, period=period, as_of=moment,
        due_day=hub.settings.report_due_day,
    )  # fmt: skip
    return schemas.MissingReportList(as_of=moment, items=[schemas.missing_read(m) for m in missing])


@router.get("", response_model=schemas.ReportList)
def list_reports(
    session: ReadSession,
    caller: CurrentCaller,
    region: RegionQuery,
    period: PeriodQuery,
    department: Department | None = None,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    limit: PageSize = 100,
) -> schemas.ReportList:
    """Reports of the counties inside ``region`` that the caller may read."""
    page = service.list_reports(
        session, caller, region=region, period=period, department=department, cursor=cursor,
        limit=limit,
    )  # fmt: skip
    return schemas.ReportList(
        items=[schemas.ReportRead.model_validate(r, from_attributes=True) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{report_id}", response_model=schemas.ReportDetail)
def read_report(
    report_id: uuid.UUID, session: ReadSession, caller: CurrentCaller
) -> schemas.ReportDetail:
    """One report with every version sent."""
    report, versions = service.get_report(session, caller, report_id)
    base = schemas.ReportRead.model_validate(report, from_attributes=True)
    return schemas.ReportDetail(
        **base.model_dump(),
        versions=[
            schemas.ReportVersionRead.model_validate(v, from_attributes=True) for v in versions
        ],
    )

"""The published contract of department reports (SPEC §9: ``POST /api/v1/reports``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from exchange_hub.request_body import MONTH, WHOLE_NUMBER, CountyCode, RequestBody
from exchange_hub.scope import DEPARTMENTS

if TYPE_CHECKING:  # the contracts load without the database layer (exchange_hub.client)
    from exchange_hub.reports.catalogue import ReportCatalogue
    from exchange_hub.reports.rates import (
        DepartmentRateRow,
        MissingReport,
        ReportRateRow,
        ReportRates,
    )

Count = Annotated[int, Field(ge=0, le=100_000_000), WHOLE_NUMBER]
ItemKey = Annotated[str, Field(max_length=60)]


class ReportSubmit(RequestBody):
    """A department's report for one county and month, or a zero report (零通报).

    Send exactly one of ``counts`` (item → whole number ≥ 0; the items of each
    department are listed by ``GET /api/v1/reports/catalogue``) and
    ``"zero": true``. Sending again for the same month is a correction.
    """

    model_config = ConfigDict(
        json_schema_extra={
            # reports.service._checked_content: counts naming an item, or zero: true.
            "anyOf": [
                {
                    "required": ["counts"],
                    "properties": {
                        "counts": {"type": "object", "minProperties": 1},
                        "zero": {"anyOf": [{"type": "null"}, {"const": False}]},
                    },
                },
                {
                    "required": ["zero"],
                    "properties": {"zero": {"const": True}, "counts": {"type": "null"}},
                },
            ],
            "examples": [
                {
                    "department": "police",
                    "region": "110105",
                    "period": "2026-10",
                    "counts": {"temporary_residence_registrations": 120, "moved_out": 7},
                },
                {"department": "health", "region": "110105", "period": "2026-10", "zero": True},
            ],
        },
    )

    department: Literal[DEPARTMENTS] = Field(  # type: ignore[valid-type]
        description="the reporter's own department"
    )
    region: CountyCode = Field(description="the reporter's own county (6 digits)")
    period: str = Field(pattern=MONTH, description="the month reported on, YYYY-MM")
    counts: dict[ItemKey, Count] | None = None
    zero: bool | None = Field(None, description="true: nothing to report this month")


class ReportRead(BaseModel):
    id: uuid.UUID
    department: str
    region: str
    period: str
    version: int = Field(description="1 for the first submission; each correction adds one")
    zero: bool
    counts: dict[str, int]
    deadline: datetime
    first_submitted_at: datetime
    on_time: bool = Field(description="timeliness of the first submission; never changed")
    updated_at: datetime


class ReportVersionRead(BaseModel):
    version: int
    zero: bool
    counts: dict[str, int]
    submitted_at: datetime
    submitted_by: uuid.UUID | None


class ReportDetail(ReportRead):
    versions: list[ReportVersionRead]


class ReportList(BaseModel):
    items: list[ReportRead]
    next_cursor: str | None


class ReportRate(BaseModel):
    """A rate with its parts; ``rate`` is a fraction, ``null`` when the denominator is 0."""

    numerator: int
    denominator: int
    rate: float | None


class ReportRateRowRead(BaseModel):
    region: str
    name: str
    level: str
    expected: int
    received: int
    on_time: int
    zero: int
    unexpected: int = Field(description="received for pairs that were not expected")
    not_yet_due: int = Field(
        0, description="owed for the period, but their deadline is not before as_of and "
        "nothing came yet: not in expected, not missing",
    )  # fmt: skip
    reporting_rate: ReportRate
    on_time_rate: ReportRate


class DepartmentRateRead(BaseModel):
    department: str
    expected: int
    received: int
    on_time: int
    zero: int
    unexpected: int
    not_yet_due: int = 0
    reporting_rate: ReportRate
    on_time_rate: ReportRate


class ReportInconsistency(BaseModel):
    region: str
    department: str
    period: str
    reason: str


class ReportRatesRead(BaseModel):
    region: str
    name: str
    periods: list[str]
    level: str
    as_of: datetime
    total: ReportRateRowRead
    items: list[ReportRateRowRead]
    departments: list[DepartmentRateRead] = Field(
        description="each department over all the counties inside the region"
    )
    inconsistencies: list[ReportInconsistency] = Field(
        description="reports received for pairs that were not expected (at most 1000 listed; "
        "total.unexpected counts them all)"
    )


class MissingReportRead(BaseModel):
    region: str
    name: str
    department: str
    period: str
    deadline: datetime
    overdue: bool
    days_late: int


class MissingReportList(BaseModel):
    as_of: datetime
    items: list[MissingReportRead]


class ReportItemRead(BaseModel):
    key: str
    label: str


class ReportTypeRead(BaseModel):
    department: str
    title: str
    items: list[ReportItemRead]


class ReportCatalogueRead(BaseModel):
    items: list[ReportTypeRead]


def rate_read(numerator: int, denominator: int) -> ReportRate:
    return ReportRate(
        numerator=numerator,
        denominator=denominator,
        rate=numerator / denominator if denominator else None,
    )


def rate_row_read(row: ReportRateRow) -> ReportRateRowRead:
    return ReportRateRowRead(
        region=row.region, name=row.name, level=row.level,
        expected=row.expected, received=row.received, on_time=row.on_time,
        zero=row.zero, unexpected=row.unexpected, not_yet_due=row.not_yet_due,
        reporting_rate=rate_read(row.received, row.expected),
        on_time_rate=rate_read(row.on_time, row.expected),
    )  # fmt: skip


def department_rate_read(row: DepartmentRateRow) -> DepartmentRateRead:
    return DepartmentRateRead(
        department=row.department,
        expected=row.expected, received=row.received, on_time=row.on_time,
        zero=row.zero, unexpected=row.unexpected, not_yet_due=row.not_yet_due,
        reporting_rate=rate_read(row.received, row.expected),
        on_time_rate=rate_read(row.on_time, row.expected),
    )  # fmt: skip


def rates_read(rates: ReportRates) -> ReportRatesRead:
    return ReportRatesRead(
        region=rates.region, name=rates.name, periods=rates.periods, level=rates.level,
        as_of=rates.as_of, total=rate_row_read(rates.total),
        items=[rate_row_read(row) for row in rates.rows],
        departments=[department_rate_read(row) for row in rates.departments],
        inconsistencies=[ReportInconsistency(**vars(i)) for i in rates.inconsistencies],
    )  # fmt: skip


def missing_read(missing: MissingReport) -> MissingReportRead:
    return MissingReportRead(
        region=missing.region, name=missing.name, department=missing.department,
        period=missing.period, deadline=missing.deadline, overdue=missing.overdue,
        days_late=missing.days_late,
    )  # fmt: skip


def catalogue_read(catalogue: ReportCatalogue) -> ReportCatalogueRead:
    return ReportCatalogueRead(
        items=[
            ReportTypeRead(
                department=t.department,
                title=t.title,
                items=[ReportItemRead(key=k, label=v) for k, v in t.items.items()],
            )
            for t in (catalogue.types[d] for d in catalogue.departments)
        ]
    )

"""Record contracts (SPEC §9): what county systems send and what they read back.

A record (登记) is an outflow (流出登记: the household-registration county
registers a resident who left) or an inflow (流入登记: the residence county
registers an arrival). Field names of the published example are fixed; the
family-planning fields follow SPEC §3.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from exchange_hub.request_body import (
    NOT_BLANK,
    TWO_DIGITS,
    WHOLE_NUMBER,
    CountyCode,
    IdNumber,
    IsoDate,
    RegionCode,
    RequestBody,
    Text,
)

Kind = Literal["outflow", "inflow"]
Sex = Literal["M", "F"]
Contraception = Literal["none", "iud", "sterilisation", "implant", "pill", "condom", "other"]
PregnancyStatus = Literal["not_pregnant", "pregnant", "unknown"]
DeregisterReason = Literal["returned_home", "moved_on", "died", "duplicate"]
Grade = Literal["certain", "probable", "possible"]
ChildrenCount = Annotated[int, Field(ge=0, le=30), WHOLE_NUMBER]


class Certificate(RequestBody):
    """婚育证明: the floating population's marriage-and-childbearing certificate."""

    number: Text | None = Field(None, max_length=40)
    issued_by: RegionCode | None = None
    issued_on: IsoDate | None = None
    valid_until: IsoDate | None = None


class PersonIn(RequestBody):
    """The person: identity, contact, and the family-planning fields.

    ``marital_status`` and ``ethnicity`` are the 2-digit GB/T 2261.2 and
    GB 3304 codes. ``birth_date`` and ``sex`` may be left out; when sent they
    must agree with the ID number.
    """

    id_number: IdNumber
    name: Text = Field(min_length=1, max_length=100, pattern=NOT_BLANK)
    sex: Sex | None = None
    birth_date: IsoDate | None = None
    ethnicity: str | None = Field(None, pattern=TWO_DIGITS)
    marital_status: str | None = Field(None, pattern=TWO_DIGITS)
    phone: Text | None = Field(None, max_length=40)
    address: Text | None = Field(None, max_length=300)
    children_count: ChildrenCount | None = None
    contraception: Contraception | None = None
    pregnancy_status: PregnancyStatus | None = None
    last_birth_date: IsoDate | None = None


class RecordIn(RequestBody):
    """One outflow or inflow record as pushed by a county (alone or as a batch line).

    The registering side may be left out (it is the caller's county):
    ``hukou_region`` of an outflow, ``residence_region`` of an inflow.
    ``moved_on`` is the date the person left (outflow) or arrived (inflow).
    ``certificate_checked`` (婚育证明查验) applies to inflows.
    """

    kind: Kind
    person: PersonIn
    hukou_region: CountyCode | None = None
    residence_region: RegionCode | None = None
    moved_on: IsoDate | None = None
    certificate: Certificate | None = None
    certificate_checked: bool | None = None


class PersonPatch(RequestBody):
    id_number: IdNumber | None = None
    name: Text | None = Field(None, min_length=1, max_length=100, pattern=NOT_BLANK)
    sex: Sex | None = None
    birth_date: IsoDate | None = None
    ethnicity: str | None = Field(None, pattern=TWO_DIGITS)
    marital_status: str | None = Field(None, pattern=TWO_DIGITS)
    phone: Text | None = Field(None, max_length=40)
    address: Text | None = Field(None, max_length=300)
    children_count: ChildrenCount | None = None
    contraception: Contraception | None = None
    pregnancy_status: PregnancyStatus | None = None
    last_birth_date: IsoDate | None = None


class RecordPatch(RequestBody):
    """A JSON merge patch (RFC 7396) of a record: fields sent replace, ``null`` clears."""

    person: PersonPatch | None = None
    hukou_region: CountyCode | None = None
    residence_region: RegionCode | None = None
    moved_on: IsoDate | None = None
    certificate: Certificate | None = None
    certificate_checked: bool | None = None


class Deregistration(RequestBody):
    """注销: why and when a record ends."""

    reason: DeregisterReason
    on: IsoDate | None = None


class PersonRead(BaseModel):
    id_number: str
    name: str
    sex: Sex
    birth_date: date
    ethnicity: str | None = None
    marital_status: str | None = None
    phone: str | None = None
    address: str | None = None
    children_count: int | None = None
    contraception: Contraception | None = None
    pregnancy_status: PregnancyStatus | None = None
    last_birth_date: date | None = None


class DataQuality(BaseModel):
    id_check_flagged: bool
    id_converted: bool
    hukou_missing: bool


class RecordRead(BaseModel):
    """A record as its readers see it. ``key_object`` (重点对象) is derived."""

    id: uuid.UUID
    kind: Kind
    status: Literal["active", "deregistered"]
    version: int
    person: PersonRead
    hukou_region: str | None
    residence_region: str | None
    registering_region: str
    other_region: str | None
    moved_on: date | None
    certificate: Certificate | None
    certificate_checked: bool | None
    key_object: bool
    key_reasons: list[str]
    quality: DataQuality
    deregistration: Deregistration | None
    created_at: datetime
    updated_at: datetime


class RecordWritten(RecordRead):
    """The answer to a push: ``outcome`` says whether it created, updated or changed nothing."""

    outcome: Literal["created", "updated", "unchanged"]


class RecordVersionRead(BaseModel):
    version: int
    action: str
    at: datetime
    actor: str
    record: RecordRead


class RecordVersionList(BaseModel):
    items: list[RecordVersionRead]


class RejectedLine(BaseModel):
    line: int
    field: str
    detail: str


class BatchResult(BaseModel):
    """The outcome of a batch. ``rejected`` lists the first ``rejected_listed_max``
    bad lines; ``rejected_count`` counts them all. CSV line numbers count the
    header as line 1, so the first data row is line 2; XLSX lines are the sheet's
    row numbers (the header is row 1)."""

    accepted: int
    created: int
    updated: int
    unchanged: int
    rejected: list[RejectedLine]
    rejected_count: int
    rejected_truncated: bool
    lines: int
    format: Literal["ndjson", "csv", "xlsx"]
    encoding: str


class LookupRequest(RequestBody):
    """Look a person up by ID number, or by name + birth date + sex; ``purpose`` is required."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["id_number"], "properties": {"id_number": {"type": "string"}}},
                {
                    "required": ["name", "birth_date", "sex"],
                    "properties": {
                        "name": {"type": "string"},
                        "birth_date": {"type": "string"},
                        "sex": {"type": "string"},
                    },
                },
            ]
        }
    )

    id_number: IdNumber | None = None
    name: Text | None = Field(None, min_length=1, max_length=100, pattern=NOT_BLANK)
    birth_date: IsoDate | None = None
    sex: Sex | None = None
    purpose: Text = Field(min_length=3, max_length=300, pattern=NOT_BLANK)


class LookupMatch(BaseModel):
    """Only what a caller needs: no name, no ID number, no address."""

    grade: Grade
    kind: Kind
    registration_region: str
    active: bool
    certificate_status: Literal["valid", "expired", "none"]


class LookupResult(BaseModel):
    matches: list[LookupMatch]

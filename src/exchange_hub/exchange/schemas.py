"""Contracts of the exchange (SPEC §4, §9): messages, feedback, inbox, outbox, changes.

A message carries only the fields its kind needs (SPEC §4, data
minimisation): a query names its subject and purpose; each notification type
has its own small detail object, and the others are refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from exchange_hub.request_body import IsoDate, RequestBody, UuidText

Kind = Literal["query", "notification"]
Urgency = Literal["urgent", "normal", "certificate"]
NotificationType = Literal["health_check", "contraception", "birth", "inflow", "other"]
FeedbackResult = Literal["found", "found_inactive", "not_found", "mismatch", "multiple_candidates"]
State = Literal["submitted", "delivered", "received", "answered", "withdrawn"]
DeadlineBasis = Literal["official", "weekends_only"]
BASIS_DESCRIPTION = (
    "official: every rest day the deadline was moved over is in the State Council's holiday "
    "arrangement the hub has loaded; weekends_only: a year it reached is not loaded yet, so "
    "only weekends counted as rest days (recomputed, with an event, when the year is loaded)"
)
Sex = Literal["M", "F"]
ContraceptionMethod = Literal["none", "iud", "sterilisation", "implant", "pill", "condom", "other"]

# Which detail object each notification type carries (and no other).
DETAIL_OF_TYPE: dict[str, str | None] = {
    "health_check": "health_check",
    "contraception": "contraception",
    "birth": "birth",
    "inflow": "inflow",
    "other": None,
}
DETAIL_FIELDS = ("certificate", "health_check", "contraception", "birth", "inflow")


class Subject(RequestBody):
    """The person a message is about; the ID number is enough, the rest helps matching."""

    id_number: str = Field(min_length=15, max_length=18, examples=["11010519491231002X"])
    name: str | None = Field(None, min_length=1, max_length=50)
    sex: Sex | None = None
    birth_date: IsoDate | None = None

    @field_validator("id_number")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class CertificateRef(RequestBody):
    """《流动人口婚育证明》 to verify (certificate queries)."""

    number: str = Field(min_length=1, max_length=60)
    issued_by: str | None = Field(None, pattern=r"^\d{6}$")
    valid_until: IsoDate | None = None


class HealthCheck(RequestBody):
    """孕环情检查: a pregnancy / IUD check done where the person lives."""

    checked_on: IsoDate
    result: str = Field(min_length=1, max_length=200)


class ContraceptionService(RequestBody):
    """A contraception service given where the person lives."""

    served_on: IsoDate
    method: ContraceptionMethod


class BirthInfo(RequestBody):
    """生育: a birth the origin confirms into its own register."""

    born_on: IsoDate
    child_sex: Sex | None = None
    birth_order: int | None = Field(None, ge=1, le=20)


class InflowInfo(RequestBody):
    """An arrival registered at the destination (流入)."""

    arrived_on: IsoDate | None = None
    residence_region: str = Field(pattern=r"^\d{6}$")
    certificate_checked: bool | None = None


class MessageCreate(RequestBody):
    """A query (协查) or notification (通报). ``to_region`` may be left out."""

    kind: Kind
    urgency: Urgency | None = None
    type: NotificationType | None = None
    subject: Subject
    to_region: str | None = Field(None, max_length=6)
    purpose: str = Field(min_length=2, max_length=300)
    case_ref: str | None = Field(None, max_length=100)
    record_id: UuidText | None = None
    certificate: CertificateRef | None = None
    health_check: HealthCheck | None = None
    contraception: ContraceptionService | None = None
    birth: BirthInfo | None = None
    inflow: InflowInfo | None = None
    note: str | None = Field(None, max_length=1000)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "query",
                    "urgency": "normal",
                    "subject": {"id_number": "11010519491231002X"},
                    "to_region": "110105",
                    "purpose": "certificate verification",
                    "case_ref": "NS-2026-0042",
                }
            ]
        },
    )


class Signature(BaseModel):
    alg: str
    kid: str
    sig: str


class HubReceipt(BaseModel):
    """The hub's signed acknowledgement of an accepted message (non-repudiation)."""

    message_id: uuid.UUID
    digest: str = Field(description="sha256 of the canonical JSON of the accepted message")
    accepted_at: datetime
    from_region: str
    to_region: str
    signature: Signature


class MessageAccepted(BaseModel):
    id: uuid.UUID
    state: State
    kind: Kind
    subtype: str
    from_region: str
    to_region: str
    routed_by: Literal["to_region", "record", "id_prefix"]
    submitted_at: datetime
    deadline: datetime
    deadline_basis: DeadlineBasis = Field(description=BASIS_DESCRIPTION)
    receipt: HubReceipt


class Difference(RequestBody):
    field: str = Field(min_length=1, max_length=60)
    recorded: str | None = Field(None, max_length=200)
    reported: str | None = Field(None, max_length=200)


class FeedbackCreate(RequestBody):
    """反馈: the final answer to a query (or the confirmation of a birth notification).

    ``mismatch`` must list the differing fields; ``multiple_candidates``
    may give how many were found. "Cannot answer now" is not an answer:
    acknowledge with ``/receipt`` and answer when you can.
    """

    result: FeedbackResult
    verified: dict[str, str] | None = Field(None, description="fields confirmed as held")
    differences: list[Difference] | None = Field(None, max_length=30)
    candidates: int | None = Field(None, ge=2, le=1000)
    note: str | None = Field(None, max_length=1000)


class Feedback(BaseModel):
    result: FeedbackResult
    verified: dict[str, str] | None = None
    differences: list[Difference] | None = None
    candidates: int | None = None
    note: str | None = None


class MessageEventRead(BaseModel):
    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    detail: dict[str, Any] | None = None


class MessageSummary(BaseModel):
    """A message as listed in an inbox or outbox, or returned after a transition."""

    id: uuid.UUID
    kind: Kind
    subtype: str
    from_region: str
    to_region: str
    state: State
    overdue: bool
    needs_receipt: bool
    needs_feedback: bool
    purpose: str
    case_ref: str | None
    submitted_at: datetime
    deadline: datetime
    deadline_basis: DeadlineBasis = Field(description=BASIS_DESCRIPTION)
    delivered_at: datetime | None
    received_at: datetime | None
    answered_at: datetime | None
    withdrawn_at: datetime | None
    feedback_result: FeedbackResult | None


class MessageRead(MessageSummary):
    """A message with its content (person data: every read is audited)."""

    content: dict[str, Any] | None = Field(
        None, description="subject and detail objects as sent; absent for admins without grant"
    )
    feedback: Feedback | None = None
    receipt: HubReceipt | None = None
    events: list[MessageEventRead] = Field(default_factory=list)


class InboxItem(MessageSummary):
    content: dict[str, Any]


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None


class OutboxPage(BaseModel):
    items: list[MessageSummary]
    next_cursor: str | None


class ChangeRead(BaseModel):
    seq: int
    at: datetime
    object_type: str
    object_id: str
    action: str
    summary: dict[str, Any] | None


class ChangePage(BaseModel):
    items: list[ChangeRead]
    next_cursor: str = Field(description="pass as ?since= to resume after the last item")


class PushDeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: uuid.UUID
    member_id: uuid.UUID
    region: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None


class PushDeliveryList(BaseModel):
    items: list[PushDeliveryRead]

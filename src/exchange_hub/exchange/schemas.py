"""Contracts of the exchange (SPEC §4, §9): messages, feedback, inbox, outbox, changes.

A message carries only the fields its kind needs (SPEC §4, data
minimisation): a query names its subject and purpose; each notification type
has its own small detail object, and the others are refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator
from pydantic.config import JsonDict, JsonValue

from exchange_hub.request_body import (
    NOT_BLANK,
    WHOLE_NUMBER,
    CountyCode,
    IdNumber,
    IsoDate,
    RequestBody,
    Text,
    UuidText,
)

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

    id_number: IdNumber = Field(examples=["11010519491231002X"])
    name: Text | None = Field(None, min_length=1, max_length=50, pattern=NOT_BLANK)
    sex: Sex | None = None
    birth_date: IsoDate | None = None

    @field_validator("id_number")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class CertificateRef(RequestBody):
    """《流动人口婚育证明》 to verify (certificate queries)."""

    number: Text = Field(min_length=1, max_length=60, pattern=NOT_BLANK)
    issued_by: CountyCode | None = None
    valid_until: IsoDate | None = None


class HealthCheck(RequestBody):
    """孕环情检查: a pregnancy / IUD check done where the person lives."""

    checked_on: IsoDate
    result: Text = Field(min_length=1, max_length=200, pattern=NOT_BLANK)


class ContraceptionService(RequestBody):
    """A contraception service given where the person lives."""

    served_on: IsoDate
    method: ContraceptionMethod


class BirthInfo(RequestBody):
    """生育: a birth the origin confirms into its own register."""

    born_on: IsoDate
    child_sex: Sex | None = None
    birth_order: Annotated[int, Field(ge=1, le=20), WHOLE_NUMBER] | None = None


class InflowInfo(RequestBody):
    """An arrival registered at the destination (流入)."""

    arrived_on: IsoDate | None = None
    residence_region: CountyCode
    certificate_checked: bool | None = None


NULL: JsonDict = {"type": "null"}
NOT_CERTIFICATE: JsonDict = {"urgency": {"not": {"const": "certificate"}}}


def _when(condition: JsonDict, then: JsonDict) -> JsonValue:
    """JSON Schema's ``if``/``then`` (2020-12 §10.2.2): ``then`` applies only to an
    instance that matches ``condition``; the properties it tests must be present."""
    required: list[JsonValue] = [n for n in ("kind", "urgency", "type") if n in condition]
    return {"if": {"properties": condition, "required": required}, "then": then}


def _nulls(names: tuple[str, ...]) -> JsonDict:
    return {name: NULL for name in names}


def message_rules() -> list[JsonValue]:
    """SPEC §4 as ``exchange.service._check_shape`` enforces it, one condition each: a
    query needs ``urgency`` and has no ``type`` (only a certificate query may carry the
    certificate); a notification needs ``type``, has no ``urgency``, and carries exactly
    the detail object of its type (issue 21: the schema says what the hub enforces)."""
    query: JsonDict = {"kind": {"const": "query"}}
    notification: JsonDict = {"kind": {"const": "notification"}}
    queries_carry_none = tuple(d for d in DETAIL_FIELDS if d != "certificate")
    rules: list[JsonValue] = [
        _when(query, {"required": ["urgency"],
                      "properties": {"urgency": {"enum": list(get_args(Urgency))}, "type": NULL,
                                     **_nulls(queries_carry_none)}}),
        _when(query | NOT_CERTIFICATE,
              {"properties": {"certificate": NULL}}),
        _when(notification, {"required": ["type"],
                             "properties": {"type": {"enum": list(get_args(NotificationType))},
                                            "urgency": NULL}}),
    ]  # fmt: skip
    for kind, detail in DETAIL_OF_TYPE.items():
        others = tuple(d for d in DETAIL_FIELDS if d != detail)
        then: JsonDict = {"properties": _nulls(others)}
        if detail:
            then = {
                "required": [detail],
                "properties": {detail: {"type": "object"}, **_nulls(others)},
            }
        typed: JsonDict = {"type": {"const": kind}}
        rules.append(_when(notification | typed, then))
    return rules


class MessageCreate(RequestBody):
    """A query (协查) or notification (通报). ``to_region`` may be left out.

    What each kind needs and may carry is stated as ``if``/``then`` conditions
    (``allOf``): see ``message_rules``.
    """

    kind: Kind
    urgency: Urgency | None = None
    type: NotificationType | None = None
    subject: Subject
    to_region: CountyCode | None = None
    purpose: Text = Field(min_length=2, max_length=300, pattern=NOT_BLANK)
    case_ref: Text | None = Field(None, max_length=100)
    record_id: UuidText | None = None
    certificate: CertificateRef | None = None
    health_check: HealthCheck | None = None
    contraception: ContraceptionService | None = None
    birth: BirthInfo | None = None
    inflow: InflowInfo | None = None
    note: Text | None = Field(None, max_length=1000)

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": message_rules(),
            "examples": [
                {
                    "kind": "query",
                    "urgency": "normal",
                    "subject": {"id_number": "11010519491231002X"},
                    "to_region": "110105",
                    "purpose": "certificate verification",
                    "case_ref": "NS-2026-0042",
                }
            ],
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
    accepted_at: datetime = Field(json_schema_extra={"format": "date-time"})
    from_region: str
    to_region: str
    signature: Signature

    @field_serializer("accepted_at", when_used="json")
    def _as_signed(self, accepted_at: datetime) -> str:
        """Written as it was signed (``datetime.isoformat``, ``+00:00``), so that the
        receipt a member keeps verifies as sent."""
        return accepted_at.isoformat()


class Difference(RequestBody):
    field: Text = Field(min_length=1, max_length=60, pattern=NOT_BLANK)
    recorded: Text | None = Field(None, max_length=200)
    reported: Text | None = Field(None, max_length=200)


class FeedbackCreate(RequestBody):
    """反馈: the final answer to a query (or the confirmation of a birth notification).

    ``mismatch`` must list the differing fields; ``multiple_candidates``
    may give how many were found. "Cannot answer now" is not an answer:
    acknowledge with ``/receipt`` and answer when you can.
    """

    model_config = ConfigDict(
        json_schema_extra={
            # exchange.service._check_feedback: what each result may and must carry.
            "allOf": [
                {"anyOf": [
                    {"properties": {"result": {"const": "mismatch"},
                                    "differences": {"type": "array", "minItems": 1}},
                     "required": ["differences"]},
                    {"properties": {"result": {"not": {"const": "mismatch"}},
                                    "differences": {"anyOf": [NULL, {"maxItems": 0}]}}},
                ]},
                {"anyOf": [
                    {"properties": {"result": {"const": "multiple_candidates"}}},
                    {"properties": {"candidates": NULL}},
                ]},
                {"anyOf": [
                    {"properties": {"result": {"not": {"const": "not_found"}}}},
                    {"properties": {"verified": {"anyOf": [NULL, {"maxProperties": 0}]}}},
                ]},
            ]
        }
    )  # fmt: skip

    result: FeedbackResult
    verified: dict[str, Text] | None = Field(None, description="fields confirmed as held")
    differences: list[Difference] | None = Field(None, max_length=30)
    candidates: Annotated[int, Field(ge=2, le=1000), WHOLE_NUMBER] | None = None
    note: Text | None = Field(None, max_length=1000)


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
    needs_receipt: bool = Field(
        description="the addressee still has to acknowledge it (false once received, "
        "answered or withdrawn, and for kinds that take no receipt)"
    )
    needs_feedback: bool = Field(
        description="an answer is still due (false once answered or withdrawn, and for "
        "kinds that are not answered)"
    )
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


class MessageAccepted(MessageSummary):
    """A message just accepted: as summarised, with how it was routed and the hub's receipt."""

    routed_by: Literal["to_region", "record", "id_prefix"]
    receipt: HubReceipt


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


class PushRedrive(BaseModel):
    requeued: int = Field(description="failed or cancelled pushes queued again")

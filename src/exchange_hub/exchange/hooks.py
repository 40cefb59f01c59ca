"""Calls from other domains into the exchange.

``inflow_registered`` is called by the records service, inside the same
transaction, after an inflow record (流入登记) is created: the exchange notifies
the origin county and, where the hub holds no matching active outflow record,
opens a ``normal`` verification query to it (SPEC §3: a case entered at the
destination lands in the origin's to-do list, as in PADIS).

``inflows_registered`` does the same for a whole chunk of a batch (called once
per chunk by ``records/bulk.py``), with two queries per chunk and Core inserts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, literal, select
from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.changes import record_change
from exchange_hub.crypto import CryptoError
from exchange_hub.errors import InvalidInput
from exchange_hub.exchange import common, receipts, routing, service
from exchange_hub.exchange.schemas import InflowInfo, MessageCreate, Subject
from exchange_hub.members.scope import Caller
from exchange_hub.models import Change, Member, Message, MessageEvent, PushDelivery, Region
from exchange_hub.models.base import UTCDateTime

log = logging.getLogger("exchange_hub.exchange.hooks")

INFLOW_NOTICE_PURPOSE = "inflow notice: a resident of yours registered here (流入通报)"
INFLOW_QUERY_PURPOSE = "inflow verification: no outflow record at the origin (流入核查)"


def inflow_registered(session: Session, caller: Caller, record: Any) -> list[dict[str, Any]]:
    """Notify the origin county of an arrival, and query it when it has no outflow record.

    Returns what was sent (empty when the person's household county is the
    caller's own, or no current county can be found: the record still lands,
    and its ``hukou_missing`` flag is counted by the metrics).
    """
    id_number = _id_number_of(session, record)
    if id_number is None:
        return []
    keyring = common.keyring_of(session)
    try:
        origin = routing.route(
            session, keyring, to_region=record.hukou_region or None, id_number=id_number
        ).to_region
    except InvalidInput:
        log.info("inflow %s: no current origin county to notify", record.id)
        return []
    if origin == caller.region:
        return []
    subject = Subject(
        id_number=id_number, sex=getattr(record, "sex", None), birth_date=record.birth_date
    )
    sent = [_send(session, caller, record, subject, origin, "notification")]
    if not routing.has_active_outflow(session, keyring, id_number, origin):
        sent.append(_send(session, caller, record, subject, origin, "query"))
    return sent


def _send(
    session: Session, caller: Caller, record: Any, subject: Subject, origin: str, kind: str
) -> dict[str, Any]:
    payload = _payload(caller, record, subject, origin, kind)
    return service.submit_message(session, caller, payload=payload, flush=False)


def _id_number_of(session: Session, record: Any) -> str | None:
    """The record's ID number in clear (records store it encrypted)."""
    plain = getattr(record, "id_number", None)
    if isinstance(plain, str):
        return plain
    token = getattr(record, "id_number_enc", None)
    if not token:
        return None
    keyring = common.keyring_of(session)
    for context in ("records.id_number", "records.id_number_enc"):
        try:
            return keyring.decrypt(token, context)
        except CryptoError:
            continue
    log.warning("inflow %s: ID number does not decrypt; origin not notified", record.id)
    return None


# -- the bulk form, for batches ------------------------------------------------------
@dataclass(frozen=True)
class _Inflow:
    """One new inflow of a chunk that will reach its origin county."""

    record: Any
    id_number: str
    origin: str


def inflows_registered(
    session: Session,
    caller: Caller,
    records: Sequence[Any],
    *,
    now: datetime | None = None,
    feed_later: bool = False,
) -> list[dict[str, Any]]:
    """``inflow_registered`` for a whole chunk of a batch, with the same result.

    Routing and the outflow check are two queries for the chunk instead of
    two per record, and messages, events and pushes are written with Core
    inserts. Bodies, digests, deadlines and receipts come from the same
    functions as ``submit_message``. Change-feed entries are queued as a
    single submit does; with ``feed_later`` the caller appends them at the end
    with ``append_inflow_changes`` (a batch of a million lines keeps no
    million pending changes in memory).
    """
    keyring = common.keyring_of(session)
    now = now or clock.now()
    inflows = _routed(session, keyring, caller, records)
    outflows = _outflow_regions(session, keyring, [i.id_number for i in inflows])
    rows = _MessageRows(_push_member_ids(session, {i.origin for i in inflows}))
    for inflow in inflows:
        subject = Subject(
            id_number=inflow.id_number,
            sex=getattr(inflow.record, "sex", None),
            birth_date=inflow.record.birth_date,
        )
        kinds = ["notification"]
        if inflow.origin not in outflows.get(inflow.id_number, ()):
            kinds.append("query")
        for kind in kinds:
            payload = _payload(caller, inflow.record, subject, inflow.origin, kind)
            rows.add(session, caller, payload, inflow.id_number, now)
    rows.write(session, queue_changes=not feed_later)
    return rows.sent


def _routed(
    session: Session, keyring: Any, caller: Caller, records: Sequence[Any]
) -> list[_Inflow]:
    """The records that notify someone, with their origin county (as ``routing.route``)."""
    numbered = [(r, n) for r in records if (n := _id_number_of(session, r)) is not None]
    unknown = [n for r, n in numbered if not r.hukou_region]
    from_records = _hukou_regions(session, keyring, unknown) if unknown else {}
    choices = [
        (record, number, [record.hukou_region] if record.hukou_region
         else [from_records.get(number), number[:6]])
        for record, number in numbered
    ]  # fmt: skip
    counties = _current_counties(session, {c for *_, cs in choices for c in cs if c})
    out = []
    for record, number, candidates in choices:
        origin = next((c for c in candidates if c in counties), None)
        if origin is None:
            log.info("inflow %s: no current origin county to notify", record.id)
        elif origin != caller.region:
            out.append(_Inflow(record, number, origin))
    return out


def _current_counties(session: Session, codes: set[str]) -> set[str]:
    """The codes that name a current county (``routing.region_facts``, one query)."""
    query = select(Region.code).where(
        Region.code.in_(codes), Region.level == "county", Region.active.is_(True)
    )
    return set(session.scalars(query)) if codes else set()


def _push_member_ids(session: Session, counties: set[str]) -> dict[str, list[Any]]:
    """``service.push_member_ids`` of many counties in one query."""
    query = select(Member.region, Member.id).where(
        Member.region.in_(counties),
        Member.role == "county",
        Member.active.is_(True),
        Member.push_url.is_not(None),
    )
    found: dict[str, list[Any]] = {}
    for region, member_id in session.execute(query) if counties else ():
        found.setdefault(region, []).append(member_id)
    return found


def _hukou_regions(session: Session, keyring: Any, id_numbers: list[str]) -> dict[str, str]:
    from exchange_hub.records import service as records

    return records.hukou_regions_for(session, keyring, id_numbers)


def _outflow_regions(session: Session, keyring: Any, id_numbers: list[str]) -> dict[str, set[str]]:
    from exchange_hub.records import service as records

    return records.active_outflow_regions(session, keyring, id_numbers) if id_numbers else {}


def _payload(
    caller: Caller, record: Any, subject: Subject, origin: str, kind: str
) -> MessageCreate:
    """The notification or the verification query an inflow sends its origin."""
    if kind == "notification":
        return MessageCreate(
            kind="notification",
            type="inflow",
            subject=subject,
            to_region=origin,
            purpose=INFLOW_NOTICE_PURPOSE,
            record_id=record.id,
            inflow=InflowInfo(
                arrived_on=record.moved_on,
                residence_region=caller.region,
                certificate_checked=record.certificate_checked,
            ),
        )
    return MessageCreate(
        kind="query",
        urgency="normal",
        subject=subject,
        to_region=origin,
        purpose=INFLOW_QUERY_PURPOSE,
        record_id=record.id,
    )


_MESSAGE_COLUMNS = tuple(c.key for c in Message.__table__.columns)


@dataclass
class _MessageRows:
    """The rows of a chunk's messages, written together by ``write``."""

    push_members: dict[str, list[Any]]
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        session: Session,
        caller: Caller,
        payload: MessageCreate,
        id_number: str,
        now: datetime,
    ) -> None:
        """As ``service.submit_message`` (the record's ID number was checked when it landed)."""
        subtype = service._check_shape(payload)
        content = service._content(payload, id_number)
        message = service._new_message(
            session, caller, payload, subtype, payload.to_region or "", content, now
        )
        message.hub_receipt = receipts.issue_receipt(
            common.keyring_of(session), message_id=message.id, digest=message.body_digest,
            accepted_at=now, from_region=message.from_region, to_region=message.to_region,
        )  # fmt: skip
        self.messages.append({c: getattr(message, c) for c in _MESSAGE_COLUMNS})
        self.events.append(
            {"message_id": message.id, "at": now, "actor_member_id": caller.member_id,
             "actor": caller.label, "from_state": None, "to_state": "submitted", "detail": None}
        )  # fmt: skip
        self.pushes.extend(
            {"message_id": message.id, "member_id": member_id, "region": message.to_region,
             "state": "pending", "attempts": 0, "created_at": now, "window_started_at": now,
             "next_attempt_at": now}
            for member_id in self.push_members.get(message.to_region, ())
        )  # fmt: skip
        self.sent.append(
            {**common.summary_of(message, now), "routed_by": "to_region",
             "receipt": message.hub_receipt}
        )  # fmt: skip

    def write(self, session: Session, *, queue_changes: bool) -> None:
        for model, rows in ((Message, self.messages), (MessageEvent, self.events),
                            (PushDelivery, self.pushes)):  # fmt: skip
            if rows:
                session.execute(insert(model.__table__), rows)
        if queue_changes:
            for row in self.messages:
                summary = {"state": "submitted", "kind": row["kind"], "subtype": row["subtype"]}
                record_change(
                    session, "message", row["id"], "submitted",
                    [row["from_region"], row["to_region"]], summary,
                )  # fmt: skip


def append_inflow_changes(session: Session, caller: Caller, *, at: datetime) -> None:
    """The change-feed entries of the messages ``inflows_registered(feed_later=True)``
    wrote for a batch at ``at``, appended server-side in the order they were
    written. The caller holds the feed lock (``changes.lock_feed``)."""
    from exchange_hub.records.repository import uuid_text

    events, messages = MessageEvent.__table__, Message.__table__
    summary = _json_object(session)(
        "state", literal("submitted"), "kind", messages.c.kind, "subtype", messages.c.subtype
    )
    rows = (
        select(
            events.c.at,
            literal("message"),
            uuid_text(session, messages.c.id),
            literal("submitted"),
            messages.c.from_region,
            messages.c.to_region,
            summary,
        )
        .join_from(events, messages, events.c.message_id == messages.c.id)
        .where(
            events.c.at == bindparam("at", at, type_=UTCDateTime),
            events.c.actor == caller.label,
            events.c.to_state == "submitted",
            messages.c.from_region == caller.region,
        )
        .order_by(events.c.id)
    )
    columns = ["at", "object_type", "object_id", "action", "region_a", "region_b", "summary"]
    session.execute(insert(Change.__table__).from_select(columns, rows))


def _json_object(session: Session) -> Any:
    postgres = session.get_bind().dialect.name == "postgresql"
    return func.json_build_object if postgres else func.json_object

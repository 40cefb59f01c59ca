"""Calls from other domains into the exchange.

``inflow_registered`` is called by the records service, inside the same
transaction, after an inflow record (流入登记) is created: the exchange notifies
the origin county and, where the hub holds no matching active outflow record,
opens a ``normal`` verification query to it (SPEC §3: a case entered at the
destination lands in the origin's to-do list, as in PADIS).

``inflows_registered`` does the same for a whole chunk of a batch (called once
per chunk by ``records/bulk.py``), with two queries per chunk and Core inserts.

Both send through the exchange's own ``service.submit_message`` /
``service.submit_messages``; what the hub knows of a person's household county
and outflow records comes from the session's ``directory.PersonDirectory``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub.crypto import CryptoError, KeyRing
from exchange_hub.errors import InvalidInput
from exchange_hub.exchange import common, repository, routing, service
from exchange_hub.exchange.directory import PersonDirectory, directory_of
from exchange_hub.exchange.schemas import InflowInfo, MessageAccepted, MessageCreate, Subject
from exchange_hub.scope import Caller

log = logging.getLogger("exchange_hub.exchange.hooks")

INFLOW_NOTICE_PURPOSE = "inflow notice: a resident of yours registered here (流入通报)"
INFLOW_QUERY_PURPOSE = "inflow verification: no outflow record at the origin (流入核查)"


def inflow_registered(session: Session, caller: Caller, record: Any) -> list[MessageAccepted]:
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
    if not directory_of(session).has_active_outflow(session, keyring, id_number, origin):
        sent.append(_send(session, caller, record, subject, origin, "query"))
    return sent


def _send(
    session: Session, caller: Caller, record: Any, subject: Subject, origin: str, kind: str
) -> MessageAccepted:
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
    """``inflow_registered`` for a whole chunk of a batch, with the same messages (in
    the ``MessageAccepted`` form, as plain dicts: a batch sends up to two per line, too
    many to validate one by one).

    Routing and the outflow check are two queries for the chunk instead of
    two per record, and the messages are written by ``service.submit_messages``
    (Core inserts). Change-feed entries are queued as a single submit does;
    with ``feed_later`` the caller appends them at the end with
    ``append_inflow_changes`` (a batch of a million lines keeps no million
    pending changes in memory).
    """
    people = directory_of(session)
    keyring = common.keyring_of(session)
    inflows = _routed(session, people, keyring, caller, records)
    numbers = [i.id_number for i in inflows]
    outflows = people.active_outflow_regions(session, keyring, numbers) if numbers else {}
    payloads: list[MessageCreate] = []
    for inflow in inflows:
        subject = Subject(
            id_number=inflow.id_number,
            sex=getattr(inflow.record, "sex", None),
            birth_date=inflow.record.birth_date,
        )
        kinds = ["notification"]
        if inflow.origin not in outflows.get(inflow.id_number, ()):
            kinds.append("query")
        payloads.extend(_payload(caller, inflow.record, subject, inflow.origin, k) for k in kinds)
    return service.submit_messages(session, caller, payloads, now=now, queue_changes=not feed_later)


def _routed(
    session: Session,
    people: PersonDirectory,
    keyring: KeyRing,
    caller: Caller,
    records: Sequence[Any],
) -> list[_Inflow]:
    """The records that notify someone, with their origin county (as ``routing.route``)."""
    numbered = [(r, n) for r in records if (n := _id_number_of(session, r)) is not None]
    unknown = [n for r, n in numbered if not r.hukou_region]
    from_records = people.hukou_regions_for(session, keyring, unknown) if unknown else {}
    choices = [
        (record, number, [record.hukou_region] if record.hukou_region
         else [from_records.get(number), number[:6]])
        for record, number in numbered
    ]  # fmt: skip
    counties = repository.current_counties(session, {c for *_, cs in choices for c in cs if c})
    out = []
    for record, number, candidates in choices:
        origin = next((c for c in candidates if c in counties), None)
        if origin is None:
            log.info("inflow %s: no current origin county to notify", record.id)
        elif origin != caller.region:
            out.append(_Inflow(record, number, origin))
    return out


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


def append_inflow_changes(session: Session, caller: Caller, *, at: datetime) -> None:
    """The change-feed entries of the messages ``inflows_registered(feed_later=True)``
    wrote for a batch at ``at``, appended server-side in the order they were
    written. The caller holds the feed lock (``changes.lock_feed``)."""
    repository.append_submitted_changes(
        session, actor=caller.label, from_region=caller.region, at=at
    )

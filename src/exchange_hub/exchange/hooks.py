"""Calls from other domains into the exchange.

``inflow_registered`` is called by the records service, inside the same
transaction, after an inflow record (流入登记) is created: the exchange notifies
the origin county and, where the hub holds no matching active outflow record,
opens a ``normal`` verification query to it (SPEC §3: a case entered at the
destination lands in the origin's to-do list, as in PADIS).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub.crypto import CryptoError
from exchange_hub.errors import InvalidInput
from exchange_hub.exchange import common, routing, service
from exchange_hub.exchange.schemas import InflowInfo, MessageCreate, Subject
from exchange_hub.members.scope import Caller

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
    if kind == "notification":
        payload = MessageCreate(
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
    else:
        payload = MessageCreate(
            kind="query",
            urgency="normal",
            subject=subject,
            to_region=origin,
            purpose=INFLOW_QUERY_PURPOSE,
            record_id=record.id,
        )
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

"""Push delivery: the hub POSTs new inbox items to a member's registered endpoint.

The outbox rows (``PushDelivery``) are written with the message. A worker:

1. claims due rows — ``SELECT … FOR UPDATE SKIP LOCKED`` then ``UPDATE`` of
   those ids on PostgreSQL; on SQLite the same two statements run under the
   database write lock — and commits the claim with a lease;
2. sends each item outside any transaction (httpx, no redirects, timeouts),
   signed with the hub's Ed25519 key, while the lease still covers a send (the
   rest of the batch is handed back unsent for the next pass);
3. records each outcome in its own transaction, fenced by its claim token, so
   a worker whose lease expired cannot overwrite a newer claim.

Failures retry with exponential back-off and full jitter until the retry
window closes; then the row is ``failed`` (admins see it and re-drive it).
The message stays in the inbox throughout: a failing push never loses it.
A worker that dies mid-send leaves a lease that expires; the item is sent
again (at-least-once; ``X-Hub-Message`` lets the receiver drop duplicates).
Each member's pushes go one at a time, oldest first, so they arrive in order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from exchange_hub import clock, crypto
from exchange_hub.audit import service as audit
from exchange_hub.config import Settings
from exchange_hub.crypto import KeyRing
from exchange_hub.db import transaction
from exchange_hub.exchange import common, delivery_repository, repository, service
from exchange_hub.exchange.push_urls import PushUrlError, check_push_url
from exchange_hub.exchange.schemas import PushDeliveryList, PushDeliveryRead, PushRedrive
from exchange_hub.models import Member, Message, PushDelivery
from exchange_hub.scope import Caller, require_role, scope_prefix

log = logging.getLogger("exchange_hub.exchange.delivery")

SIGNATURE_HEADER = "X-Hub-Signature"
TIMESTAMP_HEADER = "X-Hub-Timestamp"
PUSH_ACTOR = "hub:push"


@dataclass
class Claimed:
    delivery_id: int
    token: str
    url: str | None
    body: bytes
    message_id: uuid.UUID
    problem: str | None = None


@dataclass
class DeliveryStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    released: int = 0
    """Claimed but handed back unsent: the lease could not cover another send."""
    errors: list[str] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)
    """The pushes attempted, in order (``drain`` tells new items from re-tries)."""


# -- signing ------------------------------------------------------------------------
def signature_header(signature: dict[str, str]) -> str:
    return f'alg="{signature["alg"]}", kid="{signature["kid"]}", sig="{signature["sig"]}"'


def parse_signature_header(value: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in value.split(","):
        name, _, raw = item.strip().partition("=")
        parts[name.strip()] = raw.strip().strip('"')
    return parts


def push_headers(keyring: KeyRing, url: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Signed like member requests (``crypto.signing_string``), with the hub's key."""
    target = httpx.URL(url)
    path_qs = target.raw_path.decode()
    payload = crypto.signing_string(
        "POST", path_qs, str(timestamp), hashlib.sha256(body).hexdigest()
    )
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(keyring.sign(payload)),
    }


def verify_push(public_key: str, path_qs: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver runs: does this push carry a valid hub signature? ``public_key``:
    the hub's, Ed25519 in base64 or SM2 as PEM or 04||X||Y hex."""
    lowered = {k.lower(): v for k, v in headers.items()}
    parts = parse_signature_header(lowered.get(SIGNATURE_HEADER.lower(), ""))
    try:
        stored = crypto.parse_public_key(public_key)
    except crypto.CryptoError:
        return False
    if parts.get("alg") != crypto.public_key_alg(stored):
        return False
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    payload = crypto.signing_string("POST", path_qs, timestamp, hashlib.sha256(body).hexdigest())
    return crypto.verify_with_stored_key(stored, payload, parts.get("sig", ""))


# -- claiming -------------------------------------------------------------------------
def claim_due(
    session: Session, *, worker: str, now: datetime, limit: int, lease_seconds: int
) -> tuple[str, list[int]]:
    """Atomically take up to ``limit`` due rows; returns (claim token, ids)."""
    token = f"{worker}:{uuid.uuid4().hex[:12]}"
    lease_until = now + timedelta(seconds=lease_seconds)
    claimed = delivery_repository.claim_due_rows(
        session, token=token, now=now, limit=limit, lease_until=lease_until
    )
    return token, claimed


def _prepare(session: Session, delivery: PushDelivery, token: str, settings: Settings) -> Claimed:
    message = session.get(Message, delivery.message_id)
    member = session.get(Member, delivery.member_id)
    assert message is not None
    item = Claimed(delivery.id, token, None, b"", message.id)
    if message.state == "withdrawn":
        item.problem = "the sender withdrew the message"
    elif member is None or not member.active or not member.push_url:
        item.problem = "the member no longer has a push endpoint"
    else:
        try:
            item.url = check_push_url(member.push_url, settings)
        except PushUrlError as exc:
            item.problem = f"endpoint refused by policy: {exc}"
    if item.problem is None:
        item.body = push_body(session, message, delivery.id)
    return item


def push_body(session: Session, message: Message, delivery_id: int) -> bytes:
    """The inbox item as JSON, exactly the bytes that are signed and sent."""
    now = clock.now()
    document = {
        **common.summary_of(message, now),
        "content": common.decrypt_content(session, message),
        "delivery_id": delivery_id,
    }
    return json.dumps(document, default=str, ensure_ascii=False, sort_keys=True).encode()


def claim_batch(
    factory: sessionmaker[Session], settings: Settings, *, worker: str, now: datetime
) -> list[Claimed]:
    with transaction(factory) as session:
        token, ids = claim_due(
            session,
            worker=worker,
            now=now,
            limit=settings.push_batch_size,
            lease_seconds=settings.push_lease_seconds,
        )
        rows = delivery_repository.deliveries_by_id(session, ids)
        return [_prepare(session, row, token, settings) for row in sorted(rows, key=lambda r: r.id)]


# -- sending and outcomes ---------------------------------------------------------------
def send(client: httpx.Client, keyring: KeyRing, item: Claimed) -> str | None:
    """POST one item; None on a 2xx, else why it failed."""
    assert item.url is not None
    headers = push_headers(keyring, item.url, item.body, int(clock.unix_seconds()))
    headers["X-Hub-Message"] = str(item.message_id)
    headers["X-Hub-Delivery"] = str(item.delivery_id)
    try:
        response = client.post(item.url, content=item.body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{exc.__class__.__name__}: {exc}"[:300]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def retry_delay(settings: Settings, attempts: int) -> float:
    """Exponential back-off with full jitter (AWS architecture blog, 2015)."""
    ceiling = min(
        settings.push_retry_base_seconds * 2 ** (attempts - 1), settings.push_retry_cap_seconds
    )
    return random.uniform(ceiling / 2, ceiling)


def record_outcome(
    session: Session, settings: Settings, item: Claimed, error: str | None, now: datetime
) -> str | None:
    """Store what happened to one claimed push; returns the new state (None: lease lost)."""
    row = delivery_repository.claimed_delivery_for_update(session, item.delivery_id, item.token)
    if row is None:
        return None
    row.claimed_by, row.claimed_until, row.last_attempt_at = None, None, now
    if item.problem is not None:
        row.state, row.last_error = "cancelled", item.problem[:300]
    elif error is None:
        row.state, row.delivered_at, row.attempts = "delivered", now, row.attempts + 1
        _message_delivered(session, row.message_id, now)
        _audit_push(session, row)
    else:
        row.attempts += 1
        row.last_error = error[:300]
        retry_at = now + timedelta(seconds=retry_delay(settings, row.attempts))
        window_end = row.window_started_at + timedelta(seconds=settings.push_retry_window_seconds)
        row.state = "failed" if retry_at > window_end else "pending"
        row.next_attempt_at = retry_at
    session.flush()
    return row.state


def _audit_push(session: Session, row: PushDelivery) -> None:
    """Person data left the hub for a member's endpoint: that is a disclosure to audit."""
    entry = audit.AuditEntry(
        action="message.push",
        actor=PUSH_ACTOR,
        member_id=row.member_id,
        region=row.region,
        object_type="message",
        object_id=str(row.message_id),
        detail={"delivery_id": row.id, "attempts": row.attempts},
    )
    audit.record(session, entry)


def _message_delivered(session: Session, message_id: uuid.UUID, now: datetime) -> None:
    message = repository.get_message(session, message_id, for_update=True)
    if message is not None:
        service.mark_delivered(session, message, actor=PUSH_ACTOR, actor_member_id=None, now=now)


def deliver_due(
    factory: sessionmaker[Session],
    settings: Settings,
    keyring: KeyRing,
    *,
    worker: str,
    now: datetime | None = None,
    client: httpx.Client | None = None,
) -> DeliveryStats:
    """One pass: claim a batch, send it, record the outcomes.

    ``now`` fixes the pass's time (tests); otherwise each step reads the hub's clock.
    """
    moment = now or clock.now()
    stats = DeliveryStats()
    batch = claim_batch(factory, settings, worker=worker, now=moment)
    stats.claimed = len(batch)
    if not batch:
        return stats
    lease_end = moment + timedelta(seconds=settings.push_lease_seconds)
    own_client = client is None
    client = client or make_client(settings)
    try:
        for index, item in enumerate(batch):
            if index and not _lease_covers_a_send(now or clock.now(), lease_end, settings):
                stats.released = release(factory, batch[index:])
                break
            error = send(client, keyring, item) if item.problem is None else None
            with transaction(factory) as session:
                state = record_outcome(session, settings, item, error, now or clock.now())
            stats.delivery_ids.append(item.delivery_id)
            _count(stats, state, error)
    finally:
        if own_client:
            client.close()
    return stats


def _lease_covers_a_send(current: datetime, lease_end: datetime, settings: Settings) -> bool:
    """Slow endpoints can use up a batch's lease; once it lapses another worker may take
    the rest over, and both would send them. So an item is sent only while a full send
    (the timeout) still fits in the lease; the first of a batch always goes."""
    return current + timedelta(seconds=settings.push_timeout_seconds) <= lease_end


def release(factory: sessionmaker[Session], items: list[Claimed]) -> int:
    """Hand claimed pushes back unsent, due as they were: the next pass (of any worker)
    claims them with a fresh lease. Fenced by the claim token like outcomes."""
    with transaction(factory) as session:
        ids = [item.delivery_id for item in items]
        return delivery_repository.release_claimed(session, ids, items[0].token)


def _count(stats: DeliveryStats, state: str | None, error: str | None) -> None:
    if state == "delivered":
        stats.delivered += 1
    elif state == "pending":
        stats.retried += 1
    elif state == "failed":
        stats.failed += 1
    elif state == "cancelled":
        stats.cancelled += 1
    if error:
        stats.errors.append(error)


def drain(
    factory: sessionmaker[Session],
    settings: Settings,
    keyring: KeyRing,
    *,
    worker: str,
    now: datetime | None = None,
    client: httpx.Client | None = None,
) -> DeliveryStats:
    """Run passes until nothing is due (a job run handles the whole backlog).

    The run ends on a pass that claims nothing: whatever is queued then is either not
    due yet (back-off) or held by another worker, which records its batch's outcomes
    and then runs another pass, so an item those outcomes unblock is not left waiting
    (one worker stopping early only leaves the rest of the backlog to the other). A pass
    of failures does not end the run (other members' items may be due behind them);
    a pass that neither took a new item nor settled one (it only rescheduled items
    this run already tried, with a back-off shorter than the pass) does, so an
    endpoint that is down cannot keep the job spinning.
    """
    total = DeliveryStats()
    tried: set[int] = set()
    own_client = client is None
    client = client or make_client(settings)
    try:
        while True:
            stats = deliver_due(factory, settings, keyring, worker=worker, now=now, client=client)
            _add(total, stats)
            fresh = set(stats.delivery_ids) - tried
            tried |= fresh
            settled = stats.delivered + stats.failed + stats.cancelled
            if stats.claimed == 0 or not (fresh or settled):
                return total
    finally:
        if own_client:
            client.close()


def _add(total: DeliveryStats, stats: DeliveryStats) -> None:
    for name in ("claimed", "delivered", "retried", "failed", "cancelled", "released"):
        setattr(total, name, getattr(total, name) + getattr(stats, name))
    total.errors.extend(stats.errors)
    total.delivery_ids.extend(stats.delivery_ids)


def make_client(settings: Settings) -> httpx.Client:
    return httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(
            settings.push_timeout_seconds, connect=min(5.0, settings.push_timeout_seconds)
        ),
        trust_env=False,
    )


# -- admins: see and re-drive failures --------------------------------------------------------
def redrive(
    session: Session,
    *,
    delivery_ids: list[int] | None,
    within_prefix: str = "",
    now: datetime | None = None,
) -> int:
    """Put failed (or given) pushes back in the queue with a fresh retry window."""
    now = now or clock.now()
    count = delivery_repository.requeue_given_up(
        session, delivery_ids=delivery_ids, within_prefix=within_prefix, now=now
    )
    session.flush()
    return count


def deliveries_in_scope(
    session: Session, caller: Caller, *, state: str | None, after_id: int, limit: int
) -> PushDeliveryList:
    """An admin's view of the pushes to the counties under it, in queue order."""
    require_role(caller, "admin")
    rows = repository.deliveries(
        session, state=state, within_prefix=scope_prefix(caller.region), after_id=after_id,
        limit=limit,
    )  # fmt: skip
    return PushDeliveryList(items=[PushDeliveryRead.model_validate(r) for r in rows])


def redrive_in_scope(session: Session, caller: Caller) -> PushRedrive:
    """An admin queues the failed pushes to the counties under it again."""
    require_role(caller, "admin")
    count = redrive(session, delivery_ids=None, within_prefix=scope_prefix(caller.region))
    return PushRedrive(requeued=count)


def describe(stats: DeliveryStats) -> dict[str, Any]:
    return {
        "claimed": stats.claimed,
        "delivered": stats.delivered,
        "retried": stats.retried,
        "failed": stats.failed,
        "cancelled": stats.cancelled,
        "released": stats.released,
    }

"""``Idempotency-Key`` on writes (SPEC §8).

The key row is inserted at the start of the request's own transaction, so the
key and the work it guards commit or vanish together (a crash mid-request
leaves no stale marker behind):

- same key, same body, already committed → the stored response, replayed;
- same key, other body → 422;
- same key, first request still running → 409 (PostgreSQL waits a few
  seconds for it first; SQLite serialises writers, so it simply waits);
- same key, answer no longer kept (stored in clear before migration 0010, its
  data key retired, or older than ``HUB_IDEMPOTENCY_ANSWER_DAYS``: job
  ``idempotency.expire_answers``) → 409: never run twice, never another answer;
- no key → the work runs as usual.

The routes go through ``answer``: the work returns the route's response model,
and a replay is validated with that model before it is sent (an answer stored
by an older hub that no longer fits is a 409, never a 500 nor an untyped body).

Answers hold person data (a record's name, ID number, phone, address), so
none is stored in clear (SPEC §7, "stored idempotent answers"): the answer is
AES-GCM encrypted with its member and key as associated data, so a ciphertext
copied onto another row does not decrypt there; the request's fingerprint is
an HMAC under the index key, since a plain SHA-256 of a body that differs only
in an ID number is found by trying every ID number.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi import Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub import idempotency_repository as repository
from exchange_hub.context import HubContext
from exchange_hub.crypto import CryptoError, KeyRing
from exchange_hub.db import is_lock_timeout, lock_wait, transaction
from exchange_hub.errors import Conflict, InvalidInput
from exchange_hub.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RESPONSE_CONTEXT = "idempotency_keys.response"
_WAIT_FOR_FIRST = "3s"
_FINGERPRINT_DOMAIN = b"idempotency:"

log = logging.getLogger("exchange_hub.idempotency")

Answer = TypeVar("Answer", bound=BaseModel)


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: Any
    replayed: bool = False


def request_hash(method: str, path: str, body: bytes | Any) -> str:
    raw = (
        body
        if isinstance(body, bytes)
        else json.dumps(jsonable_encoder(body), sort_keys=True).encode()
    )
    return hashlib.sha256(f"{method} {path}\n".encode() + raw).hexdigest()


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > 200 or not key.isprintable():
        raise InvalidInput("Idempotency-Key must be 1–200 printable characters", field=HEADER)
    return key


def response_context(member_id: uuid.UUID, key: str) -> str:
    """The associated data of a stored answer: its column, member and key."""
    return f"{RESPONSE_CONTEXT}:{member_id}:{key}"


def _fingerprint(keyring: KeyRing, digest: str) -> str:
    """What is stored of the request: a keyed hash of its SHA-256 (current index key)."""
    return keyring.blind_index_of_bytes(_FINGERPRINT_DOMAIN + digest.encode())


def _same_request(keyring: KeyRing, stored: str, digest: str) -> bool:
    data = _FINGERPRINT_DOMAIN + digest.encode()
    return any(stored == keyring.blind_index_of_bytes(data, kid) for kid in keyring.index_keys)


def _keyring(session: Session) -> KeyRing:
    return session.info["keyring"]  # type: ignore[no-any-return]


def _no_longer_kept() -> Conflict:
    return Conflict(
        "the answer to this Idempotency-Key is no longer kept; read the resource, "
        "or send the request again with a new key",
        field=HEADER,
    )


def _replay(session: Session, row: IdempotencyKey, digest: str) -> Outcome:
    if row.state == "running":
        raise Conflict("a request with this Idempotency-Key is still in progress", field=HEADER)
    if row.state != "done" or row.response_enc is None:
        raise _no_longer_kept()
    keyring = _keyring(session)
    if not _same_request(keyring, row.request_hash, digest):
        raise InvalidInput("this Idempotency-Key was used with a different request", field=HEADER)
    try:
        clear = keyring.decrypt(row.response_enc, response_context(row.member_id, row.key))
    except CryptoError:
        log.warning("a stored idempotent answer does not decrypt (key retired or row altered)")
        raise _no_longer_kept() from None
    return Outcome(row.status_code or 200, json.loads(clear), replayed=True)


def _claim(session: Session, member_id: uuid.UUID, key: str, digest: str) -> Outcome | None:
    existing = session.get(IdempotencyKey, (member_id, key))
    if existing is not None:
        return _replay(session, existing, digest)
    try:
        with session.begin_nested(), lock_wait(session, _WAIT_FOR_FIRST):
            session.add(
                IdempotencyKey(
                    member_id=member_id, key=key, state="running", created_at=clock.now(),
                    request_hash=_fingerprint(_keyring(session), digest),
                )
            )  # fmt: skip
            session.flush()
    except IntegrityError as exc:
        row = session.get(IdempotencyKey, (member_id, key), populate_existing=True)
        if row is None:  # pragma: no cover - the winner rolled back between our two reads
            raise Conflict(
                "concurrent request with this Idempotency-Key; retry", field=HEADER
            ) from exc
        return _replay(session, row, digest)
    except OperationalError as exc:
        if not is_lock_timeout(exc):
            raise  # a lost connection and the like: the app answers 503
        # lock_timeout: the first request with this key holds it and is still running.
        raise Conflict(
            "a request with this Idempotency-Key is still in progress", field=HEADER
        ) from exc
    return None


def run(
    session: Session,
    member_id: uuid.UUID | None,
    key: str | None,
    digest: str,
    work: Callable[[], Any],
    *,
    status_code: int = 200,
) -> Outcome:
    """Run ``work`` once per (member, key); its JSON-able result is stored, encrypted,
    for replays."""
    if not key or member_id is None:
        return Outcome(status_code, jsonable_encoder(work()))
    key = _check_key(key)
    replay = _claim(session, member_id, key, digest)
    if replay is not None:
        return replay
    body = jsonable_encoder(work())
    _store(session, member_id, key, status_code, body)
    return Outcome(status_code, body)


def _store(session: Session, member_id: uuid.UUID, key: str, status_code: int, body: Any) -> None:
    """Seal the answer to a claimed key (AES-GCM, bound to member and key)."""
    row = session.get(IdempotencyKey, (member_id, key))
    assert row is not None
    sealed = _keyring(session).encrypt(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        response_context(member_id, key),
    )
    row.state, row.status_code, row.response_enc = "done", status_code, sealed
    session.flush()


def answer(
    session: Session,
    member_id: uuid.UUID | None,
    key: str | None,
    digest: str,
    work: Callable[[], Answer],
    *,
    model: type[Answer],
    response: Response,
    status_code: int = 200,
) -> Answer:
    """The typed ``run`` of an idempotent route: ``work`` runs once per (member, key) and
    returns the route's response ``model``; its JSON form is stored, encrypted, and a
    replay is that stored answer validated with ``model``. The status code goes on
    ``response`` (the route's FastAPI ``Response``), and a replay says
    ``Idempotent-Replayed: true`` there.

    A stored answer that does not fit ``model`` (kept by an older hub) is refused like
    one no longer kept (409): the work never runs twice."""
    replay = None
    if key and member_id is not None:
        key = _check_key(key)
        replay = _claim(session, member_id, key, digest)
    if replay is not None:
        response.status_code = replay.status_code
        response.headers[REPLAYED_HEADER] = "true"
        try:
            return model.model_validate(replay.body)
        except ValidationError:
            log.warning("a stored idempotent answer does not fit %s", model.__name__)
            raise _no_longer_kept() from None
    result = work()
    if key and member_id is not None:
        _store(session, member_id, key, status_code, result.model_dump(mode="json"))
    response.status_code = status_code
    return result


def expire_answers(session: Session, older_than: datetime) -> int:
    """Drop the stored answers of keys created before ``older_than``: the key stays, so a
    late retry is refused (409), never run again."""
    return repository.expire_answers_created_before(session, older_than)


def expire_answers_job(hub: HubContext) -> dict[str, Any]:
    """Drop stored answers older than ``HUB_IDEMPOTENCY_ANSWER_DAYS`` (they hold person data)."""
    older_than = clock.now() - timedelta(days=hub.settings.idempotency_answer_days)
    with transaction(hub.sessions) as session:
        return {"expired": expire_answers(session, older_than)}

"""``Idempotency-Key`` on writes (SPEC §8).

The key row is inserted at the start of the request's own transaction, so the
key and the work it guards commit or vanish together (a crash mid-request
leaves no stale marker behind):

- same key, same body, already committed → the stored response, replayed;
- same key, other body → 422;
- same key, first request still running → 409 (PostgreSQL waits a few
  seconds for it first; SQLite serialises writers, so it simply waits);
- no key → the work runs as usual.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.db import is_lock_timeout, lock_wait
from exchange_hub.errors import Conflict, InvalidInput
from exchange_hub.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_WAIT_FOR_FIRST = "3s"


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


def _replay(row: IdempotencyKey, digest: str) -> Outcome:
    if row.request_hash != digest:
        raise InvalidInput("this Idempotency-Key was used with a different request", field=HEADER)
    if row.state != "done":
        raise Conflict("a request with this Idempotency-Key is still in progress", field=HEADER)
    return Outcome(row.status_code or 200, row.response, replayed=True)


def _claim(session: Session, member_id: uuid.UUID, key: str, digest: str) -> Outcome | None:
    existing = session.get(IdempotencyKey, (member_id, key))
    if existing is not None:
        return _replay(existing, digest)
    try:
        with session.begin_nested(), lock_wait(session, _WAIT_FOR_FIRST):
            session.add(
                IdempotencyKey(
                    member_id=member_id, key=key, request_hash=digest, state="running",
                    created_at=clock.now(),
                )
            )  # fmt: skip
            session.flush()
    except IntegrityError as exc:
        row = session.get(IdempotencyKey, (member_id, key), populate_existing=True)
        if row is None:  # pragma: no cover - the winner rolled back between our two reads
            raise Conflict(
                "concurrent request with this Idempotency-Key; retry", field=HEADER
            ) from exc
        return _replay(row, digest)
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
    """Run ``work`` once per (member, key); its JSON-able result is stored for replays."""
    if not key or member_id is None:
        return Outcome(status_code, jsonable_encoder(work()))
    key = _check_key(key)
    replay = _claim(session, member_id, key, digest)
    if replay is not None:
        return replay
    body = jsonable_encoder(work())
    row = session.get(IdempotencyKey, (member_id, key))
    assert row is not None
    row.state, row.status_code, row.response = "done", status_code, body
    session.flush()
    return Outcome(status_code, body)


def to_response(outcome: Outcome) -> JSONResponse:
    """The stored or fresh result; a replay says so in ``Idempotent-Replayed: true``."""
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)

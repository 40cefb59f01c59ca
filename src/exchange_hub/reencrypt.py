"""``reencrypt.move_rows``: move every stored ciphertext and blind index to the current keys.

(Issue 19 calls it ``crypto.reencrypt``; a job is named after the module it lives in,
``tests/foundation/test_jobs.py``, and ``crypto`` cannot import the domains whose tables
this job walks.)

After ``exchange-hub keys rotate`` (a new data key) or a change of profile
(``HUB_CRYPTO_PROFILE``, e.g. AES-GCM/HMAC-SHA256 → SM4-GCM/HMAC-SM3), rows
still on other keys are read with them (every key of the ring reads, and
look-ups consult every index key) while this job rewrites them, batch by
batch, each batch its own transaction:

- ``records``: the four encrypted fields, and the ID-number, name and content
  indexes;
- ``record_versions``: the encrypted snapshot;
- ``messages``: body, feedback and the subject's index;
- ``idempotency_keys``: the stored answer (the request fingerprint is an HMAC
  of a digest the hub does not keep: it stays on its key until the row expires,
  and is checked against every index key meanwhile).

The operator starts a move (``keys rotate``, ``keys reencrypt``: ``run(start=True)``);
the workers' job joins one whose target is the keys they write with, never starts
one, so a node not yet restarted with the new profile moves nothing back.
Resumable and safe on several workers: each table's progress (the last primary
key done, under which target keys) is a row that a worker locks while it works
a batch (``SKIP LOCKED``: another worker takes another table), and a row is
rewritten only where it still holds what was read (a request that changed it
meanwhile wins; the next pass takes the row). A pass that finds nothing left
finishes the table; one that left rows (a node still writing with the old keys)
is followed by another. Progress is on ``/metrics`` (``hub_crypto_reencrypt_*``)
and in ``exchange-hub keys reencrypt``'s progress bar.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from exchange_hub import clock, idempotency
from exchange_hub import reencrypt_repository as repository
from exchange_hub.context import HubContext
from exchange_hub.crypto import KeyRing
from exchange_hub.db import transaction
from exchange_hub.exchange.common import BODY_CONTEXT, FEEDBACK_CONTEXT, subject_id_number
from exchange_hub.models import IdempotencyKey, Message, Record, RecordVersion
from exchange_hub.records import values

JOB = "reencrypt.move_rows"
BATCH = 500
_SEPARATOR = "\x1f"  # between the parts of a primary key: no header value holds it (RFC 9110)


@dataclass(frozen=True)
class Move:
    """One table's ciphertext and index columns, and how a row gets its new values."""

    name: str
    table: Table
    keys: tuple[str, ...]
    ciphers: tuple[str, ...]
    indexes: tuple[str, ...]
    extra: tuple[str, ...]  # read and rewritten too (records: the data key id)
    convert: Callable[[KeyRing, Any], dict[str, Any]]
    reads: tuple[str, ...] = ()  # read only (content index fields, contexts)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.ciphers + self.indexes + self.extra + self.reads


def _record(ring: KeyRing, row: Any) -> dict[str, Any]:
    clear = values.decrypted(ring, row)
    out: dict[str, Any] = {"data_key_id": ring.current_data_key}
    for name, context in values.ENCRYPTED.items():
        text = clear[name]
        out[f"{name}_enc"] = None if text is None else ring.encrypt(text, context)
    id_number, name = clear["id_number"] or "", clear["name"] or ""
    out["id_index"] = ring.blind_index(id_number)
    out["name_index"] = values.name_index(ring, name)
    out["content_index"] = values.content_index_of_row(ring, row, clear)
    return out


def _version(ring: KeyRing, row: Any) -> dict[str, Any]:
    clear = ring.decrypt(row.snapshot, values.SNAPSHOT_CONTEXT)
    return {"data_key_id": ring.current_data_key,
            "snapshot": ring.encrypt(clear, values.SNAPSHOT_CONTEXT)}  # fmt: skip


def _message(ring: KeyRing, row: Any) -> dict[str, Any]:
    body = ring.decrypt(row.body, BODY_CONTEXT)
    out: dict[str, Any] = {"body": ring.encrypt(body, BODY_CONTEXT), "feedback_body": None}
    if row.feedback_body is not None:
        feedback = ring.decrypt(row.feedback_body, FEEDBACK_CONTEXT)
        out["feedback_body"] = ring.encrypt(feedback, FEEDBACK_CONTEXT)
    out["subject_index"] = row.subject_index
    if row.subject_index is not None:
        out["subject_index"] = ring.blind_index(subject_id_number(body))
    return out


def _answer(ring: KeyRing, row: Any) -> dict[str, Any]:
    context = idempotency.response_context(row.member_id, row.key)
    return {"response_enc": ring.encrypt(ring.decrypt(row.response_enc, context), context)}


MOVES = (
    Move("records", Record.__table__, ("id",),
         ("id_number_enc", "name_enc", "phone_enc", "address_enc"),
         ("id_index", "name_index", "content_index"), ("data_key_id",), _record,
         reads=values.CONTENT_COLUMNS),
    Move("record_versions", RecordVersion.__table__, ("id",),
         ("snapshot",), (), ("data_key_id",), _version),
    Move("messages", Message.__table__, ("id",),
         ("body", "feedback_body"), ("subject_index",), (), _message),
    Move("idempotency_keys", IdempotencyKey.__table__,
         ("member_id", "key"), ("response_enc",), (), (), _answer),
)  # fmt: skip


def target_of(ring: KeyRing) -> str:
    """The keys rows move to: ``<cipher alg>.<kid>/<index alg>.<kid>``."""
    data, index = ring.writing_keys()
    return f"{data}/{index}"


def _prefixes(ring: KeyRing) -> tuple[str, str]:
    data, index = target_of(ring).split("/")
    return data + ".", index + "."


@dataclass(frozen=True)
class TableProgress:
    table: str
    target: str
    done: int
    total: int
    passes: int
    finished: bool


def progress(session: Session) -> list[TableProgress]:
    return [
        TableProgress(p.table_name, p.target, p.done, p.total, p.passes, p.finished_at is not None)
        for p in repository.progress_rows(session)
    ]


def restart(hub: HubContext) -> None:
    """Begin a fresh pass over every table towards this node's keys (``keys reencrypt
    --again``: rows left behind by a node that wrote with the old keys after a pass)."""
    target = target_of(hub.keyring)
    with transaction(hub.sessions) as session:
        for move in MOVES:
            repository.ensure_progress(session, move.name, target, clock.now())
            row = repository.claim_progress(session, move.name)
            if row is not None:
                row.target, row.after, row.finished_at = target, None, None
                row.done = row.passes = 0


def run(
    hub: HubContext, *, start: bool = False, seconds: float = 20.0, batch: int = BATCH
) -> dict[str, Any]:
    """Work batches for up to ``seconds``; what each table did and whether all is done.

    ``start`` (the operator's ``keys rotate`` / ``keys reencrypt``) moves the tables
    towards this node's keys. Without it (the workers' job) a node only joins a move
    already started towards the keys it writes with: a worker not yet restarted with
    the new profile must not move rows back to the old keys.
    """
    ring, target = hub.keyring, target_of(hub.keyring)
    if start:
        with transaction(hub.sessions) as session:
            for move in MOVES:
                repository.ensure_progress(session, move.name, target, clock.now())
    moved = dict.fromkeys((m.name for m in MOVES), 0)
    give_up_at = time.monotonic() + seconds
    busy = True
    while busy:  # one batch of each table at least, then more while time is left
        busy = False
        for move in MOVES:
            with transaction(hub.sessions) as session:
                count = _one_batch(session, ring, target, move, batch, start=start)
            if count is not None:
                moved[move.name] += count
                busy = True
        busy = busy and time.monotonic() < give_up_at
    with hub.sessions() as session:
        tables = progress(session)
    finished = bool(tables) and all(t.finished and t.target == target for t in tables)
    return {"moved": moved, "finished": finished, "target": target}


def _one_batch(
    session: Session, ring: KeyRing, target: str, move: Move, limit: int, *, start: bool
) -> int | None:
    """One batch of ``move``'s table; ``None`` when it is finished, another worker has
    it, or (without ``start``) the move under way is towards other keys than ours."""
    state = repository.claim_progress(session, move.name)
    if state is None or (state.target == target and state.finished_at is not None):
        return None
    if state.target != target and not start:
        return None
    condition = repository.stale_condition(move.table, move.ciphers, move.indexes,
                                           *_prefixes(ring))  # fmt: skip
    if state.target != target:  # a new rotation or change of profile: a new pass
        state.target, state.after, state.done, state.passes = target, None, 0, 0
        state.finished_at = None
    if state.after is None:
        state.total = repository.count_stale(session, move.table, condition)
        state.passes += 1
    after = _decode_after(move, state.after)
    rows = repository.stale_batch(session, move.table, move.keys, move.columns, condition,
                                  after=after, limit=limit)  # fmt: skip
    rewritten = [_rewritten(ring, move, row) for row in rows]
    repository.rewrite_rows(session, move.table, move.keys, rewritten)
    state.updated_at = clock.now()
    if rows:
        state.done += len(rows)
        state.after = _SEPARATOR.join(str(getattr(rows[-1], k)) for k in move.keys)
    elif repository.count_stale(session, move.table, condition):  # left by an old-key writer
        state.after, state.total, state.done = None, 0, 0
    else:
        state.finished_at = clock.now()
    return len(rows)


def _rewritten(ring: KeyRing, move: Move, row: Any) -> dict[str, Any]:
    new = move.convert(ring, row)
    out = {k: getattr(row, k) for k in move.keys}
    for column, value in new.items():
        out[column] = value
        out[f"old_{column}"] = getattr(row, column)
    return out


def _decode_after(move: Move, text: str | None) -> Sequence[Any] | None:
    if text is None:
        return None
    parts = text.split(_SEPARATOR)
    types = [move.table.c[k].type.python_type for k in move.keys]
    return [uuid.UUID(p) if t is uuid.UUID else t(p) for p, t in zip(parts, types, strict=True)]


def reencrypt_job(hub: HubContext) -> dict[str, Any]:
    """Move rows to the current keys, joining a move that keys rotate/reencrypt started."""
    return run(hub)

"""Idempotency-Key semantics (SPEC §8), on the module every write route uses."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from exchange_hub import clock as hub_clock
from exchange_hub import idempotency
from exchange_hub.audit import service as audit
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import Conflict, InvalidInput
from exchange_hub.jobs import JOBS
from exchange_hub.models import AuditEvent, IdempotencyKey

MEMBER = uuid.uuid4()


def _write(hub: HubContext, key: str | None, body: dict, calls: list[int]) -> idempotency.Outcome:
    """One write request: the work leaves a row in the same transaction as the key."""
    digest = idempotency.request_hash("POST", "/x", body)
    with transaction(hub.sessions) as session:

        def work() -> dict:
            calls.append(1)
            audit.record(session, audit.AuditEntry(action="work.done"))
            return {"n": len(calls), "echo": body}

        return idempotency.run(session, MEMBER, key, digest, work, status_code=201)


def _work_rows(hub: HubContext) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).where(AuditEvent.action == "work.done")) or 0


def test_same_key_same_body_replays_the_first_response(hub: HubContext) -> None:
    calls: list[int] = []
    first = _write(hub, "k-1", {"a": 1}, calls)
    again = _write(hub, "k-1", {"a": 1}, calls)
    assert first.status_code == again.status_code == 201
    assert again.body == first.body and again.replayed and not first.replayed
    assert len(calls) == 1 and _work_rows(hub) == 1


def test_same_key_other_body_is_422(hub: HubContext) -> None:
    _write(hub, "k-2", {"a": 1}, [])
    with pytest.raises(InvalidInput) as caught:
        _write(hub, "k-2", {"a": 2}, [])
    assert caught.value.field == "Idempotency-Key"


def test_no_key_runs_every_time(hub: HubContext) -> None:
    calls: list[int] = []
    _write(hub, None, {"a": 1}, calls)
    _write(hub, None, {"a": 1}, calls)
    assert len(calls) == 2 and _work_rows(hub) == 2


def test_work_that_fails_leaves_the_key_free(hub: HubContext) -> None:
    digest = idempotency.request_hash("POST", "/x", {"a": 1})

    def boom() -> dict:
        raise InvalidInput("bad", field="a")

    with pytest.raises(InvalidInput), transaction(hub.sessions) as session:
        idempotency.run(session, MEMBER, "k-3", digest, boom)
    calls: list[int] = []
    assert _write(hub, "k-3", {"a": 1}, calls).replayed is False
    assert len(calls) == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "tab\there"])
def test_malformed_keys_are_refused(hub: HubContext, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _write(hub, key if key else " ", {"a": 1}, [])
    assert caught.value.field == "Idempotency-Key"


def test_a_key_still_in_flight_is_409(hub: HubContext, is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip(
            "SQLite serialises writers (BEGIN IMMEDIATE): a second request waits, never overlaps"
        )
    digest = idempotency.request_hash("POST", "/x", {"a": 1})
    holding = threading.Event()
    release = threading.Event()

    def slow_first() -> None:
        def work() -> dict:
            holding.set()
            release.wait(10)
            return {"first": True}

        with transaction(hub.sessions) as session:
            idempotency.run(session, MEMBER, "k-4", digest, work)

    first = threading.Thread(target=slow_first)
    first.start()
    assert holding.wait(10)
    try:
        with pytest.raises(Conflict), transaction(hub.sessions) as session:
            idempotency.run(session, MEMBER, "k-4", digest, lambda: {"second": True})
    finally:
        release.set()
        first.join()
    assert _write(hub, "k-4", {"a": 1}, []).body == {"first": True}


def test_old_answers_are_dropped_and_their_keys_still_never_run_twice(
    hub: HubContext, clock: hub_clock.Clock
) -> None:
    """Stored answers hold person data: kept ``HUB_IDEMPOTENCY_ANSWER_DAYS`` (30), then
    dropped by the job; a retry with the key is then a 409, not a second write."""
    clock.pin(datetime(2026, 11, 1, 4, 0, tzinfo=UTC), tick=False)
    calls: list[int] = []
    _write(hub, "old", {"a": 1}, calls)
    clock.advance(timedelta(days=29))
    _write(hub, "recent", {"a": 2}, calls)
    clock.advance(timedelta(days=1, seconds=1))  # "old" is 30 days and a second old
    assert JOBS["idempotency.expire_answers"](hub) == {"expired": 1}
    with hub.sessions() as session:
        rows = {row.key: row for row in session.scalars(select(IdempotencyKey))}
    assert rows["old"].state == "expired" and rows["old"].response_enc is None
    assert rows["recent"].state == "done" and rows["recent"].response_enc
    with pytest.raises(Conflict) as refused:
        _write(hub, "old", {"a": 1}, calls)
    assert refused.value.field == "Idempotency-Key"
    assert _write(hub, "recent", {"a": 2}, calls).replayed
    assert len(calls) == 2 and _work_rows(hub) == 2
    assert JOBS["idempotency.expire_answers"](hub) == {"expired": 0}  # nothing twice

"""A county's batch and its single writes do not interleave (``records/service.py``).

A batch looks up a chunk's people and then COPYs the new ones; a single push of
one of them committed in between used to break the batch on the unique index.
Now single writes of the county wait for its running batch (PostgreSQL: an
advisory lock the batch holds alone; SQLite: the one writer lock) and land
after it, as a re-push of the record the batch wrote. And should a COPY fail
all the same, its error is SQLAlchemy's, which the app answers as a problem.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from exchange_hub import clock as hub_clock
from exchange_hub import db
from exchange_hub.context import HubContext
from exchange_hub.models import Record
from exchange_hub.records import repository, service
from tests.fixtures.hub import MemberKey, client_for, make_context, make_member
from tests.records.factories import id_number, inflow, outflow
from tests.records.test_batch import good, push

RECORDS = "/api/v1/records"


def batch_of(count: int) -> bytes:
    lines = [json.dumps(good(i), ensure_ascii=False) for i in range(1, count + 1)]
    return ("\n".join(lines) + "\n").encode()


def in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_a_push_between_a_batchs_look_up_and_its_copy_waits_and_lands_after_it(
    client: TestClient, hub: HubContext, county_a: MemberKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    clerk = good(150)
    clerk["person"]["phone"] = "13700000150"
    probe = repository.active_in_chunk
    clerk_threads: list[tuple[threading.Thread, list[Any]]] = []

    def probe_then_clerk(*args: Any, **kwargs: Any) -> Any:
        found = probe(*args, **kwargs)
        if not clerk_threads:  # the clerk pushes person 150 after the first chunk's look-up
            clerk_threads.append(
                in_thread(lambda: client.post(RECORDS, json=clerk, headers=county_a.headers))
            )
            time.sleep(0.5)  # long enough for the push to reach the database
        return found

    monkeypatch.setattr(repository, "active_in_chunk", probe_then_clerk)
    response = push(client, county_a, batch_of(300))
    ((thread, answers),) = clerk_threads
    thread.join(60)

    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (300, 0)
    (answer,) = answers
    assert answer.status_code == 201, answer.text
    assert (answer.json()["outcome"], answer.json()["version"]) == ("updated", 2)
    with hub.sessions() as session:
        stored = session.scalars(
            select(Record).where(Record.id == uuid.UUID(answer.json()["id"]))
        ).one()
        assert stored.version == 2 and stored.status == "active"
        assert session.query(Record).count() == 300


@contextmanager
def county_lock_held(database_url: str, county: str) -> Iterator[None]:
    """Another transaction holds the county's write lock alone, as a running batch does."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as other:
        other.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", (repository.COUNTY_WRITES_LOCK, int(county))
        )
        yield
        other.rollback()


@pytest.fixture
def postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite runs one writer at a time (its busy timeout waits)")


@pytest.mark.usefixtures("postgres_only")
def test_single_writes_give_up_on_a_long_batch_of_their_county_with_409_and_retry_after(
    client: TestClient, database_url: str, county_a: MemberKey, county_b: MemberKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    kept = client.post(RECORDS, json=outflow(id_number("110105", seq=1)), headers=county_a.headers)
    assert kept.status_code == 201, kept.text
    record = kept.json()["id"]
    monkeypatch.setattr(service, "SINGLE_WRITE_WAIT", "300ms")
    headers = county_a.headers

    with county_lock_held(database_url, "110105"):
        refused = [
            client.post(RECORDS, json=outflow(id_number("110105", seq=2)), headers=headers),
            client.patch(f"{RECORDS}/{record}", json={"moved_on": "2026-04-01"}, headers=headers),
            client.post(f"{RECORDS}/{record}/deregister", json={"reason": "died"}, headers=headers),
        ]
        other_county = client.post(RECORDS, json=inflow(id_number("110105", seq=3)),
                                   headers=county_b.headers)  # fmt: skip
        reads = client.get(f"{RECORDS}/{record}", headers=county_a.headers)

    for answer in refused:
        assert answer.status_code == 409, answer.text
        assert answer.headers["Retry-After"] == "60"
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert "a batch of county 110105 is being written" in answer.json()["detail"]
    assert other_county.status_code == 201, other_county.text  # another county's lock
    assert reads.status_code == 200 and reads.json()["version"] == 1  # reads never wait
    again = client.post(RECORDS, json=outflow(id_number("110105", seq=2)), headers=county_a.headers)
    assert again.status_code == 201, again.text


@pytest.mark.usefixtures("postgres_only")
def test_two_batches_of_one_county_run_one_after_the_other(
    client: TestClient, database_url: str, county_a: MemberKey
) -> None:
    with county_lock_held(database_url, "110105"):
        thread, answers = in_thread(lambda: push(client, county_a, batch_of(20)))
        time.sleep(0.5)
        assert thread.is_alive() and not answers  # waits for the batch before it
    thread.join(60)
    (answer,) = answers
    assert isinstance(answer, httpx.Response) and answer.status_code == 200, answer.text
    assert answer.json()["created"] == 20


@pytest.mark.usefixtures("postgres_only")
def test_copy_failures_are_sqlalchemy_errors_so_the_app_answers_them_as_problems(
    hub: HubContext,
) -> None:
    orphan = {"record_id": uuid.uuid4(), "version": 1, "action": "created", "at": hub_clock.now(),
              "actor": "test", "data_key_id": "d1", "snapshot": "x"}  # fmt: skip
    with hub.sessions() as session, pytest.raises(IntegrityError):  # → 409, not a 500
        repository.bulk_insert(session, repository.VERSIONS, repository.VERSION_COLUMNS, [orphan])
    with hub.sessions() as session, pytest.raises(DBAPIError):
        repository.copy_encoded(
            session, repository.RECORDS, repository.RECORD_COLUMNS, [b"\x00\x01garbage"]
        )


def test_on_sqlite_a_write_kept_from_the_write_lock_is_a_503_that_says_busy(
    database_url: str, is_postgres: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if is_postgres:
        pytest.skip("SQLite only: PostgreSQL's single writes wait by lock_timeout (above)")
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    context = make_context(database_url, tmp_path / "busy")
    member = make_member(context)
    holder = sqlite3.connect(str(make_url(database_url).database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a long batch holds SQLite's one write lock
    try:
        with client_for(context) as client:
            answer = client.post(RECORDS, json=outflow(id_number()), headers=member.headers)
    finally:
        holder.rollback()
        holder.close()
        context.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "60"
    assert "busy with another write" in answer.json()["detail"]

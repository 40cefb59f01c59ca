"""A load and the deadlines computed meanwhile (PostgreSQL: SQLite writers take turns anyway)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from exchange_hub import workdays_store
from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import Conflict
from exchange_hub.exchange import service as exchange
from exchange_hub.exchange.schemas import MessageAccepted, MessageCreate
from exchange_hub.holidays import service
from exchange_hub.scope import Caller
from tests.exchange.helpers import query_body
from tests.fixtures.hub import MemberKey
from tests.holidays.helpers import FIXTURE, OPERATOR, end_of, load_fixture, shanghai


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE)")


def _submit(hub: HubContext, sender: MemberKey) -> MessageAccepted:
    caller = Caller(uuid.UUID(sender.id), "dest", "county", sender.region)
    payload = MessageCreate.model_validate(query_body(to_region="110105", urgency="urgent"))
    with transaction(hub.sessions) as session:
        return exchange.submit_message(session, caller, payload=payload)


def test_a_deadline_computed_during_a_load_waits_for_it(
    hub: HubContext, clock: Clock, county_a: MemberKey, county_b: MemberKey
) -> None:
    clock.pin(shanghai("2027-01-25 10:00"))
    loading = hub.sessions()
    try:
        service.load_calendar_file(loading, OPERATOR, data=FIXTURE.read_bytes(), source="t")
        with ThreadPoolExecutor(1) as pool:
            submitted = pool.submit(_submit, hub, county_b)
            assert not _done_within(submitted, 0.5)  # waits for the load to end
            loading.commit()
            accepted = submitted.result(timeout=30)
    finally:
        loading.close()
    assert (accepted.deadline, accepted.deadline_basis) == (end_of("2027-02-15"), "official")


def test_a_load_gives_up_on_a_long_reader_with_409(
    hub: HubContext, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workdays_store, "LOAD_LOCK_WAIT", "1s")
    reading = hub.sessions()
    try:
        # a long transaction that read the calendar (a batch, say)
        workdays_store.calendar_of(reading)
        with pytest.raises(Conflict) as refused:
            load_fixture(hub)
        assert refused.value.headers == {"Retry-After": "60"}
    finally:
        reading.close()
    assert load_fixture(hub).counts["added"] == 34  # once the reader is done


def _done_within(future: object, seconds: float) -> bool:
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())  # type: ignore[attr-defined]
    return done.wait(seconds)

"""County systems under load: people to register, queries to send, inboxes to answer.

Each simulated county pushes records (one by one and in NDJSON batches),
sends queries (协查) to the other counties, and pulls its own inbox to answer
(反馈) the queries addressed to it. What the hub acknowledged goes into a
``Ledger``; the test reconciles the ledger against the database afterwards.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from faker import Faker

from tests.reliability.harness import GaveUp, RetryingClient

OTHER_ORIGIN = "420106"  # 武昌区: household county of the arrivals; no member system of its own
CASE_PREFIX = "rel"


@dataclass
class Person:
    id_number: str
    name: str
    phone: str
    address: str


class People:
    """Realistic, distinct people (Faker zh_CN: valid ID numbers, Chinese names)."""

    def __init__(self, seed: int) -> None:
        self.faker = Faker("zh_CN")
        self.faker.seed_instance(seed)
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def born_in(self, county: str) -> Person:
        with self._lock:
            for _ in range(1000):
                number = self.faker.ssn(min_age=18, max_age=60, area_code=county)
                if number not in self.seen:
                    self.seen.add(number)
                    break
            else:  # pragma: no cover - 1000 collisions in a row
                raise RuntimeError("no fresh ID number")
            return Person(
                number, self.faker.name(), self.faker.phone_number(), self.faker.address()[:200]
            )


def outflow(person: Person, origin: str, destination: str, moved_on: date) -> dict[str, Any]:
    """流出登记 pushed by the household county ``origin``."""
    return {
        "kind": "outflow",
        "person": {"id_number": person.id_number, "name": person.name, "phone": person.phone},
        "hukou_region": origin,
        "residence_region": destination,
        "moved_on": moved_on.isoformat(),
    }


def inflow(person: Person, origin: str, residence: str, moved_on: date) -> dict[str, Any]:
    """流入登记 pushed by the residence county."""
    return {
        "kind": "inflow",
        "person": {
            "id_number": person.id_number,
            "name": person.name,
            "address": person.address,
            "marital_status": "20",
        },
        "hukou_region": origin,
        "residence_region": residence,
        "moved_on": moved_on.isoformat(),
        "certificate_checked": True,
    }


@dataclass
class Failure:
    what: str
    status: int | None
    body: str


@dataclass
class Ledger:
    """What the hub acknowledged (2xx) to the clients, and what went wrong."""

    records: dict[str, tuple[str, str]] = field(default_factory=dict)
    """id_number → (registering county, kind) of every acknowledged record."""
    record_ids: dict[str, str] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)
    """case_ref → message id of every acknowledged query."""
    sent_to: dict[str, str] = field(default_factory=dict)
    answered: dict[str, str] = field(default_factory=dict)
    """message id → feedback result acknowledged."""
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str, response: httpx.Response | None, note: str = "") -> None:
        with self.lock:
            status = response.status_code if response is not None else None
            body = response.text[:300] if response is not None else note
            self.failures.append(Failure(what, status, body))

    def operations(self) -> int:
        with self.lock:
            return len(self.records) + len(self.sent) + len(self.answered)


@dataclass
class County:
    """One simulated county system with its own client (and its own idempotency keys)."""

    region: str
    api_key: str
    client: RetryingClient
    ledger: Ledger
    people: People
    sending_done: threading.Event = field(default_factory=threading.Event)
    followed: list[int] = field(default_factory=list)

    # -- records -------------------------------------------------------------------
    def records_to_push(self, count: int, partners: list[str]) -> Iterator[dict[str, Any]]:
        start = date(2026, 9, 1)
        for n in range(count):
            moved = start + timedelta(days=n % 60)
            if n % 10 == 9:
                yield inflow(self.people.born_in(OTHER_ORIGIN), OTHER_ORIGIN, self.region, moved)
            else:
                destination = partners[n % len(partners)]
                yield outflow(self.people.born_in(self.region), self.region, destination, moved)

    def push_one(self, record: dict[str, Any], key: str) -> None:
        what = f"POST /records {key}"
        try:
            response = self.client.request("POST", "/api/v1/records", key=key, json=record)
        except GaveUp as exc:
            self.ledger.fail(what, None, str(exc))
            return
        if response.status_code != 201:
            self.ledger.fail(what, response)
            return
        with self.ledger.lock:
            number = record["person"]["id_number"]
            self.ledger.records[number] = (self.region, record["kind"])
            self.ledger.record_ids[number] = response.json()["id"]

    def push_batch(self, records: list[dict[str, Any]], key: str) -> None:
        what = f"POST /records/batch {key}"
        body = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()
        headers = {"Content-Type": "application/x-ndjson"}
        try:
            response = self.client.request(
                "POST", "/api/v1/records/batch", key=key, content=body, headers=headers
            )
        except GaveUp as exc:
            self.ledger.fail(what, None, str(exc))
            return
        result = response.json() if response.status_code == 200 else {}
        if result.get("accepted") != len(records) or result.get("rejected_count"):
            self.ledger.fail(what, response)
            return
        with self.ledger.lock:
            for record in records:
                self.ledger.records[record["person"]["id_number"]] = (self.region, record["kind"])

    def push_records(
        self, count: int, partners: list[str], batch_size: int, singles_every: int = 20
    ) -> None:
        """Every ``singles_every``-th record one by one, the rest in NDJSON batches
        (the way a nightly sync job pushes)."""
        pending: list[dict[str, Any]] = []
        for n, record in enumerate(self.records_to_push(count, partners)):
            if n % singles_every == 0:
                self.push_one(record, f"rec-{self.region}-{n}")
                continue
            pending.append(record)
            if len(pending) == batch_size:
                self.push_batch(pending, f"batch-{self.region}-{n}")
                pending = []
        if pending:
            self.push_batch(pending, f"batch-{self.region}-last")

    # -- queries ---------------------------------------------------------------------
    def send_queries(self, count: int, partners: list[str]) -> None:
        try:
            for n in range(count):
                to = partners[n % len(partners)]
                self.send_query(to, f"{CASE_PREFIX}-{self.region}-{n}")
        finally:
            self.sending_done.set()

    def send_query(self, to_region: str, case_ref: str) -> None:
        body = {
            "kind": "query",
            "urgency": "normal",
            "subject": {"id_number": self.people.born_in(to_region).id_number},
            "to_region": to_region,
            "purpose": "verify household registration for public services",
            "case_ref": case_ref,
        }
        what = f"POST /messages {case_ref}"
        try:
            response = self.client.request("POST", "/api/v1/messages", key=case_ref, json=body)
        except GaveUp as exc:
            self.ledger.fail(what, None, str(exc))
            return
        if response.status_code != 201:
            self.ledger.fail(what, response)
            return
        with self.ledger.lock:
            self.ledger.sent[case_ref] = response.json()["id"]
            self.ledger.sent_to[case_ref] = to_region

    # -- answering the inbox ------------------------------------------------------------
    def answer_inbox(self, senders: list[County], patience_seconds: float) -> None:
        """Pull the to-do list page by page and answer our queries until all are answered."""
        deadline = time.monotonic() + patience_seconds
        cursor: str | None = None
        while time.monotonic() < deadline:
            page = self.pull(cursor)
            if page is None:
                return
            for item in page["items"]:
                self.answer(item)
            cursor = page.get("next_cursor")
            if cursor is None:
                if self.all_answered(senders):
                    return
                time.sleep(0.05)
        self.ledger.fail(f"inbox {self.region}", None, "not all queries answered in time")

    def pull(self, cursor: str | None) -> dict[str, Any] | None:
        params: dict[str, Any] = {"kind": "query", "order": "arrival", "limit": 100}
        if cursor:
            params["cursor"] = cursor
        try:
            response = self.client.request("GET", "/api/v1/inbox", params=params)
        except GaveUp as exc:
            self.ledger.fail(f"GET /inbox {self.region}", None, str(exc))
            return None
        if response.status_code != 200:
            self.ledger.fail(f"GET /inbox {self.region}", response)
            return None
        return response.json()  # type: ignore[no-any-return]

    def answer(self, item: dict[str, Any]) -> None:
        if not (item.get("case_ref") or "").startswith(f"{CASE_PREFIX}-"):
            return  # the hub's own inflow queries: not part of this exercise
        message_id = item["id"]
        result = "found" if int(message_id[-1], 16) % 2 else "not_found"
        what = f"feedback {message_id}"
        try:
            response = self.client.request(
                "POST",
                f"/api/v1/messages/{message_id}/feedback",
                key=f"fb-{message_id}",
                json={"result": result, "note": "checked against the household register"},
            )
        except GaveUp as exc:
            self.ledger.fail(what, None, str(exc))
            return
        if response.status_code != 200:
            self.ledger.fail(what, response)
            return
        with self.ledger.lock:
            self.ledger.answered[message_id] = result

    def all_answered(self, senders: list[County]) -> bool:
        if not all(s.sending_done.is_set() for s in senders):
            return False
        with self.ledger.lock:
            mine = [
                mid
                for ref, mid in self.ledger.sent.items()
                if self.ledger.sent_to[ref] == self.region
            ]
            return all(mid in self.ledger.answered for mid in mine)

    # -- the change feed, as a sync job reads it ---------------------------------------------
    def follow_changes(self, stop: threading.Event, patience_seconds: float) -> None:
        """Resume from the last cursor, page after page, across hub restarts, until ``stop``;
        then read to the end. What it saw is ``self.followed``."""
        self.followed.clear()
        since = "0"
        deadline = time.monotonic() + patience_seconds
        while time.monotonic() < deadline:
            stopping = stop.is_set()
            page = self.changes_after(since)
            if page is None:
                return
            self.followed.extend(item["seq"] for item in page["items"])
            since = page["next_cursor"]
            if not page["items"]:
                if stopping:
                    return
                time.sleep(0.5)

    def changes_after(self, since: str) -> dict[str, Any] | None:
        try:
            response = self.client.request(
                "GET", "/api/v1/changes", params={"since": since, "limit": 500}
            )
        except GaveUp as exc:
            self.ledger.fail(f"GET /changes {self.region}", None, str(exc))
            return None
        if response.status_code != 200:
            self.ledger.fail(f"GET /changes {self.region}", response)
            return None
        return response.json()  # type: ignore[no-any-return]

    def all_changes(self) -> list[int]:
        """The whole feed read afresh from the start, once the load is over."""
        seqs: list[int] = []
        since = "0"
        for _ in range(10_000):
            page = self.changes_after(since)
            if page is None or not page["items"]:
                return seqs
            seqs.extend(item["seq"] for item in page["items"])
            since = page["next_cursor"]
        return seqs

"""A live switch from the international to the national profile (and back), without downtime.

Nodes are hub contexts on one database and one key ring file, as on a cluster:
the old node (international, ring read before the rotation), the same node
restarted after ``keys rotate --profile national``, the switched node
(``HUB_CRYPTO_PROFILE=national``), and the re-encryption job working small
batches between the requests. After every request every person written so far
must be found, through every node alive; at the end every row is on the
national keys, reads back, and the audit chain verifies in two segments.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from exchange_hub import crypto, reencrypt
from exchange_hub.audit import service as audit
from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent, IdempotencyKey, Message, Record, RecordVersion
from exchange_hub.records import values
from tests.exchange.helpers import act, query_body
from tests.fixtures.hub import MemberKey, client_for, make_context, make_member
from tests.records.factories import id_number, outflow

LOOKUP = "/api/v1/persons/lookup"


class Node:
    def __init__(self, database_url: str, data_dir: Path, profile: str) -> None:
        self.hub = make_context(database_url, data_dir, crypto_profile=profile)
        self.client = client_for(self.hub).__enter__()

    def stop(self) -> None:
        self.client.__exit__(None, None, None)
        self.hub.dispose()


class Workload:
    """Writes records (with a second version), queries with feedback and idempotent
    answers; checks that every person written so far is found and reads back."""

    def __init__(self, origin: MemberKey, destination: MemberKey) -> None:
        self.origin, self.destination = origin, destination
        self.people: list[tuple[str, str, str]] = []  # (id number, name, record id)
        self.sequence = itertools.count()
        self.failed_lookups = 0

    def step(self, node: Node) -> None:
        n = next(self.sequence)
        number = id_number(born=date(1980, 1, 1) + timedelta(days=n), seq=n % 50)
        name = f"王秀{'英兰芳娟'[n % 4]}"
        body = outflow(number, name=name)
        created = node.client.post("/api/v1/records", json=body, headers=self.origin.headers)
        assert created.status_code == 201, created.text
        record_id = created.json()["id"]
        changed = {"moved_on": "2026-04-01"}
        again = node.client.post("/api/v1/records", json={**body, **changed},
                                 headers=self.origin.headers)  # fmt: skip
        assert again.status_code in (200, 201), again.text
        self.people.append((number, name, record_id))
        self._message(node, number, n)

    def _message(self, node: Node, number: str, n: int) -> None:
        headers = {**self.destination.headers, "Idempotency-Key": f"q-{n}"}
        message = query_body(to_region=self.origin.region, subject_id=number)
        sent = node.client.post("/api/v1/messages", json=message, headers=headers)
        assert sent.status_code == 201, sent.text
        answer = act(node.client, self.origin, sent.json()["id"], "feedback", result="not_found")
        assert answer.status_code in (200, 201), answer.text

    def check(self, *nodes: Node) -> None:
        for node in nodes:
            for number, name, _record_id in self.people:
                born = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
                by_id = {"id_number": number, "purpose": "check"}
                by_person = {"name": name, "birth_date": born, "sex": "F", "purpose": "check"}
                found = node.client.post(LOOKUP, headers=self.destination.headers, json=by_id)
                by_name = node.client.post(LOOKUP, headers=self.destination.headers, json=by_person)
                if not (found.status_code == 200 and found.json()["matches"]):
                    self.failed_lookups += 1
                if not (by_name.status_code == 200 and by_name.json()["matches"]):
                    self.failed_lookups += 1
            number, _name, record_id = self.people[-1]
            read = node.client.get(f"/api/v1/records/{record_id}", headers=self.origin.headers)
            assert read.status_code == 200, read.text
            assert read.json()["person"]["id_number"] == number


@pytest.fixture
def nodes(database_url: str, tmp_path: Path) -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


def _every_row(hub: HubContext) -> dict[str, list[Any]]:
    with hub.sessions() as session:
        return {
            "records": list(session.scalars(select(Record))),
            "versions": list(session.scalars(select(RecordVersion))),
            "messages": list(session.scalars(select(Message))),
            "answers": list(session.scalars(select(IdempotencyKey))),
        }


def _tokens(rows: dict[str, list[Any]]) -> tuple[list[str], list[str]]:
    ciphers = [t for r in rows["records"] for t in (r.id_number_enc, r.name_enc, r.address_enc)]
    ciphers += [v.snapshot for v in rows["versions"]]
    ciphers += [m.body for m in rows["messages"]] + [m.feedback_body for m in rows["messages"]]
    ciphers += [a.response_enc for a in rows["answers"]]
    indexes = [t for r in rows["records"] for t in (r.id_index, r.name_index, r.content_index)]
    indexes += [m.subject_index for m in rows["messages"]]
    return [t for t in ciphers if t], [t for t in indexes if t]


def _readable(hub: HubContext, rows: dict[str, list[Any]]) -> int:
    """How many stored ciphertexts decrypt with the node's ring (every one must)."""
    ring, count = hub.keyring, 0
    for record in rows["records"]:
        assert values.decrypted(ring, record)["id_number"]
        count += 1
    for version in rows["versions"]:
        assert values.from_snapshot(ring, version.snapshot)
        count += 1
    for message in rows["messages"]:
        assert ring.decrypt(message.body, "messages.body")
        count += 1
    return count


def test_a_live_switch_to_the_national_profile_loses_nothing(
    database_url: str, tmp_path: Path, nodes: list[Node]
) -> None:
    data = tmp_path / "data"
    old = Node(database_url, data, "international")
    nodes.append(old)
    origin = make_member(old.hub, role="county", region="110105")
    destination = make_member(old.hub, role="county", region="440305")
    work = Workload(origin, destination)
    for _ in range(4):
        work.step(old)
        work.check(old)

    crypto.add_profile_keys(old.hub.settings.resolved_keys_file, "national")  # keys rotate
    restarted = Node(database_url, data, "international")  # step 1: every node has the keys
    nodes.append(restarted)
    work.step(old)  # the old node still serves during the restarts
    work.check(old, restarted)
    old.stop()
    nodes.remove(old)

    switched = Node(database_url, data, "national")  # step 2: one node after the other
    nodes.append(switched)
    for node in (switched, restarted, switched, restarted):
        work.step(node)
        work.check(switched, restarted)
    restarted.stop()
    nodes.remove(restarted)

    for _ in range(6):  # step 3: the job moves rows between the requests
        work.step(switched)
        reencrypt.run(switched.hub, start=True, batch=3, seconds=0.0)
        work.check(switched)
    while not reencrypt.run(switched.hub, start=True, batch=3)["finished"]:
        work.check(switched)
    work.check(switched)

    assert work.failed_lookups == 0
    rows = _every_row(switched.hub)
    assert len(rows["records"]) == len(work.people) == 15
    ciphers, indexes = _tokens(rows)
    assert ciphers and all(t.startswith("SM4GCM.") for t in ciphers)
    assert indexes and all(t.startswith("HSM3.") for t in indexes)
    assert _readable(switched.hub, rows) == 15 + len(rows["versions"]) + len(rows["messages"])
    first = {**outflow(work.people[0][0], name=work.people[0][1]), "moved_on": "2026-04-01"}
    again = switched.client.post("/api/v1/records", headers=origin.headers, json=first)
    assert again.json()["outcome"] == "unchanged"  # the content index was rebuilt too

    with switched.hub.sessions() as session:
        result = audit.verify_chain(session, switched.hub.keyring)
        changes = session.scalars(
            select(AuditEvent).where(AuditEvent.action == audit.KEY_CHANGE_ACTION)
        ).all()
    assert result.ok, result
    assert [s.key.split(".")[0] for s in result.segments][:1] == ["HS256"]
    assert result.segments[-1].key.startswith("HSM3.")
    assert len(changes) == len(result.segments) - 1 >= 1
    assert sum(s.rows for s in result.segments) == result.checked


def _rotated(
    database_url: str, data: Path, nodes: list[Node], *, records: int
) -> tuple[Node, Node, Workload]:
    """An international node that wrote ``records`` people, the national keys added, and a
    node switched to the national profile: (old node, switched node, workload)."""
    first = Node(database_url, data, "international")
    nodes.append(first)
    origin = make_member(first.hub, role="county", region="110105")
    destination = make_member(first.hub, role="county", region="440305")
    work = Workload(origin, destination)
    for _ in range(records):
        work.step(first)
    crypto.add_profile_keys(first.hub.settings.resolved_keys_file, "national")
    national = Node(database_url, data, "national")
    nodes.append(national)
    return first, national, work


def test_the_job_is_resumable_and_a_switch_back_works_the_same_way(
    database_url: str, tmp_path: Path, nodes: list[Node]
) -> None:
    data = tmp_path / "data"
    first, national, work = _rotated(database_url, data, nodes, records=5)
    reencrypt.run(national.hub, start=True, batch=2, seconds=0.0)  # then "a crash"
    with national.hub.sessions() as session:
        partial = {p.table: p for p in reencrypt.progress(session)}
    assert partial["records"].done == 2 and not partial["records"].finished
    admin = make_member(national.hub, role="admin", region="000000")
    scrape = national.client.get("/metrics", headers=admin.headers).text
    assert 'hub_crypto_reencrypt_rows{state="done",table="records"} 2.0' in scrape
    assert 'hub_crypto_reencrypt_finished{table="records"} 0.0' in scrape
    assert reencrypt.run(first.hub)["moved"] == dict.fromkeys(partial, 0)  # never back
    while not reencrypt.run(national.hub, batch=2)["finished"]:  # the workers' job resumes
        pass
    with national.hub.sessions() as session:
        done = {p.table: p for p in reencrypt.progress(session)}
    assert done["records"].done == 5 and done["records"].finished
    scrape = national.client.get("/metrics", headers=admin.headers).text
    assert 'hub_crypto_reencrypt_finished{table="records"} 1.0' in scrape

    crypto.add_profile_keys(first.hub.settings.resolved_keys_file, "international")
    back = Node(database_url, data, "international")
    nodes.append(back)
    while not reencrypt.run(back.hub, start=True)["finished"]:
        pass
    work.check(back)
    assert work.failed_lookups == 0
    ciphers, indexes = _tokens(_every_row(back.hub))
    assert all(t.startswith(f"A256GCM.{back.hub.keyring.current_data_key}.") for t in ciphers)
    assert all(t.startswith("HS256.") for t in indexes)
    with back.hub.sessions() as session:
        result = audit.verify_chain(session, back.hub.keyring)
    assert result.ok, result


def test_several_workers_move_rows_while_requests_write(
    database_url: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """Two workers run the job at once beside a node that keeps writing and reading."""
    data = tmp_path / "data"
    _first, national, work = _rotated(database_url, data, nodes, records=12)
    workers = [make_context(database_url, data, crypto_profile="national") for _ in range(2)]
    failures: list[BaseException] = []

    def worker(hub: HubContext) -> None:
        try:
            while not reencrypt.run(hub, batch=2, seconds=0.0)["finished"]:
                pass
        except BaseException as exc:  # reported below
            failures.append(exc)

    reencrypt.run(national.hub, start=True, batch=2, seconds=0.0)  # keys reencrypt starts it
    threads = [threading.Thread(target=worker, args=(hub,)) for hub in workers]
    for thread in threads:
        thread.start()
    for _ in range(4):
        work.step(national)
        work.check(national)
    for thread in threads:
        thread.join(timeout=120)
    for hub in workers:
        hub.dispose()
    assert not failures, failures
    while not reencrypt.run(national.hub, start=True)["finished"]:
        pass
    work.check(national)
    assert work.failed_lookups == 0
    rows = _every_row(national.hub)
    ciphers, indexes = _tokens(rows)
    assert all(t.startswith("SM4GCM.") for t in ciphers)
    assert all(t.startswith("HSM3.") for t in indexes)
    assert _readable(national.hub, rows) == 16 + len(rows["versions"]) + len(rows["messages"])


def test_an_identical_re_push_before_its_row_is_moved_changes_nothing(
    database_url: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """During a change of profile a county re-sends last night's file: rows still on the
    old index key are recognised as unchanged, one by one and by batch, with no new version."""
    _first, national, work = _rotated(database_url, tmp_path / "data", nodes, records=2)
    with national.hub.sessions() as session:
        versions = session.scalar(select(func.count()).select_from(RecordVersion))
    number, name, record_id = work.people[0]
    body = {**outflow(number, name=name), "moved_on": "2026-04-01"}  # as the workload left it
    single = national.client.post("/api/v1/records", json=body, headers=work.origin.headers)
    assert single.status_code == 201, single.text
    assert single.json()["outcome"] == "unchanged"
    number, name, _ = work.people[1]
    line = orjson.dumps({**outflow(number, name=name), "moved_on": "2026-04-01"})
    batch = national.client.post(
        "/api/v1/records/batch",
        content=line + b"\n",
        headers={**work.origin.headers, "Content-Type": "application/x-ndjson"},
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["unchanged"] == 1 and batch.json()["updated"] == 0, batch.text
    with national.hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RecordVersion)) == versions
        stored = session.get(Record, uuid.UUID(record_id))
        assert stored is not None and not stored.content_index.startswith("HSM3.")  # not moved

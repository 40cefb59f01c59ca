"""OWASP API3:2023 (Broken Object Property Level Authorization): no person field a
member or clerk submits is stored or logged in clear (SPEC §7: "at rest" means every
place the hub writes: tables, stored idempotent answers, audit free text, logs).

A workload through the real API and console (tests/security/workload.py) submits
made-up people; then every column of every table that can hold text (found by
reflecting the database, so new tables are covered) and every log line is searched
for every form of every field (tests/security/exposure.py), and so is every file
left in the hub's data folder. Zero hits are allowed: no column is exempt.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from faker import Faker
from fastapi.testclient import TestClient

from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from tests.security import workload
from tests.security.exposure import (
    Person,
    as_legacy,
    database_hits,
    database_text,
    file_hits,
    hits_in_text,
    log_hits,
    make_people,
    scanned_columns,
)

SEED = 20261123
PREFIXES = ("440305", "110105", "440106")


def _people(hub: HubContext) -> list[Person]:
    fake = Faker("zh_CN")
    fake.seed_instance(SEED)
    people = make_people(fake, 8, regions=PREFIXES, avoid=database_text(hub.engine))
    people[2] = as_legacy(people[2])  # submitted with its 15-digit ID number
    return people


def test_the_scan_reaches_every_table_that_holds_person_data(hub: HubContext) -> None:
    columns = scanned_columns(hub.engine)
    for expected in ("idempotency_keys.response", "audit_events.detail", "records.name_enc",
                     "messages.purpose", "message_events.detail", "changes.summary"):  # fmt: skip
        assert any(c.startswith(expected) for c in columns), expected


def test_the_scanner_finds_escaped_and_legacy_forms() -> None:
    person = Person("44030519770707077X", "王秀英", "13812345678", "广东省深圳市南山区科技路1号")
    assert hits_in_text('{"n": "\\u738b\\u79c0\\u82f1"}', [person])
    assert hits_in_text('{"n": "\\u738B\\u79C0\\u82F1"}', [person])
    assert hits_in_text('{"n": "\\u738b\\u79C0\\u82f1"}', [person])  # mixed: via the JSON
    assert hits_in_text("x 440305770707077 y", [person])
    assert hits_in_text("44030519770707077x", [person])
    assert not hits_in_text("440305********077X 138****5678", [person])


def test_no_column_and_no_log_line_holds_a_person_field_in_clear(
    client: TestClient, hub: HubContext, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The workload once, with every log handler's output captured, then both scans
    (one test: the workload is the slow part)."""
    clock.pin(datetime(2026, 11, 20, 2, 30, tzinfo=UTC))
    people = _people(hub)
    caplog.set_level("DEBUG")
    with workload.captured_logs(caplog.handler) as logs:
        workload.run(client, hub, workload.members(hub), people)
    hub_records = [r for r in caplog.records if not r.name.startswith("httpx")]  # the client's
    texts = {**logs.texts(), "caplog": "\n".join(map(caplog.handler.format, hub_records))}
    assert texts["hub handler"] and texts["caplog"], "the logs were not captured"
    hits = database_hits(hub.engine, people) + file_hits(hub.settings.data_dir, people)
    hits += [hit for source, text in texts.items() for hit in log_hits(text, people, source)]
    assert not hits, f"{len(hits)} plaintext person fields at rest or in logs:\n" + "\n".join(hits)

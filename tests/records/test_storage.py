"""Encryption at rest and data-quality flags (SPEC §5, §7)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from exchange_hub.context import HubContext
from exchange_hub.models import Record
from tests.fixtures.hub import MemberKey
from tests.records.factories import id_number, inflow, outflow

NUMBER = id_number("110105", seq=7)
NAME = "欧阳明月"
PHONE = "13912345678"
ADDRESS = "深圳市南山区科技园路1号"


def _push_and_change(client: TestClient, county_a: MemberKey, county_b: MemberKey) -> None:
    body = outflow(NUMBER, name=NAME, person={"phone": PHONE, "address": ADDRESS})
    record_id = client.post("/api/v1/records", json=body, headers=county_a.headers).json()["id"]
    client.patch(
        f"/api/v1/records/{record_id}", json={"moved_on": "2026-01-02"}, headers=county_a.headers
    )
    batch = json.dumps(inflow(NUMBER, name=NAME, person={"phone": PHONE}), ensure_ascii=False)
    client.post(
        "/api/v1/records/batch",
        content=batch.encode(),
        headers={**county_b.headers, "Content-Type": "application/x-ndjson"},
    )
    client.post(
        "/api/v1/persons/lookup",
        json={"id_number": NUMBER, "purpose": "certificate check"},
        headers=county_b.headers,
    )


def _every_text_cell(hub: HubContext) -> str:
    with hub.engine.connect() as conn:
        if hub.engine.dialect.name == "postgresql":
            tables = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        else:
            tables = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
            ).scalars()
        dumped = []
        for table in list(tables):
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                dumped.append(" ".join(str(cell) for cell in row))
    return "\n".join(dumped)


def test_the_database_holds_no_plaintext_person_data(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    _push_and_change(client, county_a, county_b)
    dumped = _every_text_cell(hub)
    for secret in (NUMBER, NUMBER[:17], NAME, PHONE, ADDRESS):
        assert secret not in dumped, secret
    assert "110105********" in dumped  # audit rows carry the masked number


def test_the_sqlite_file_holds_no_plaintext(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    if hub.engine.dialect.name != "sqlite":
        pytest.skip("reads the SQLite database file")
    _push_and_change(client, county_a, county_b)
    hub.engine.dispose()
    database = Path(hub.engine.url.database or "")
    raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for secret in (NUMBER, NAME, PHONE, ADDRESS):
        assert secret.encode() not in raw, secret


def test_logs_mask_id_numbers(
    client: TestClient, county_a: MemberKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/api/v1/records", json=outflow("12345"), headers=county_a.headers)
    client.post("/api/v1/records", json=outflow(NUMBER, name=NAME), headers=county_a.headers)
    assert NUMBER not in caplog.text and NAME not in caplog.text


def test_data_quality_flags_are_stored_for_the_metrics(
    client: TestClient, hub: HubContext, county_b: MemberKey
) -> None:
    flagged = NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1")
    no_hukou = inflow(id_number("110105", seq=8))
    del no_hukou["hukou_region"]
    for body in (inflow(flagged), inflow("110105491231004"), no_hukou):
        assert (
            client.post("/api/v1/records", json=body, headers=county_b.headers).status_code == 201
        )
    with hub.sessions() as session:
        rows = session.scalars(select(Record).order_by(Record.created_at)).all()
    flags = [(r.id_check_flagged, r.id_converted, r.hukou_missing) for r in rows]
    assert flags == [(True, False, False), (False, True, False), (False, False, True)]
    assert rows[2].other_region == "110105"  # routed by the ID number's prefix


def test_ciphertexts_are_bound_to_their_column(
    hub: HubContext, client: TestClient, county_a: MemberKey
) -> None:
    client.post("/api/v1/records", json=outflow(NUMBER, name=NAME), headers=county_a.headers)
    with hub.sessions() as session:
        record = session.scalars(select(Record)).one()
    assert hub.keyring.decrypt(record.name_enc, "records.name") == NAME
    with pytest.raises(Exception, match="does not decrypt"):
        hub.keyring.decrypt(record.name_enc, "records.id_number")

"""Batches (SPEC §8, §9): good lines land, bad lines are reported by line number."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange_hub import clock as hub_clock
from exchange_hub import crypto
from exchange_hub.context import HubContext
from exchange_hub.deps import signing_string
from exchange_hub.models import Change, Record, RecordVersion
from exchange_hub.records import batch, bulk
from tests.fixtures.hub import MemberKey, make_member
from tests.records.factories import id_number, outflow

BATCH = "/api/v1/records/batch"
NDJSON = "application/x-ndjson"
BAD_LINES = {
    7: "person.id_number", 100: "person.sex", 250: "kind", 333: "body", 480: "hukou_region",
    512: "person.birth_date", 640: "person.id_number", 777: "residence_region", 901: "body",
    1000: "person.name",
}  # fmt: skip


@pytest.fixture(autouse=True, params=["inline", "workers"])
def checking_mode(
    request: pytest.FixtureRequest, hub: HubContext, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Every batch test runs twice: lines checked in the request's thread (the whole
    body one chunk), and in two worker processes with chunks of 4 KiB (so chunk
    borders fall inside files of every test, and a person repeated across chunks)."""
    if request.param == "workers":
        monkeypatch.setattr(batch, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(batch, "CHUNK_BYTES", 4_096)
        monkeypatch.setattr(batch, "CSV_CHUNK_ROWS", 7)
        hub.settings.ingest_workers = 2
    else:
        hub.settings.ingest_workers = 0
    return str(request.param)


def person_number(i: int) -> str:
    """A distinct valid ID number per i (birth dates walk through the 1980s)."""
    from datetime import date, timedelta

    return id_number("110105", date(1980, 1, 1) + timedelta(days=i // 40), seq=i % 40)


def good(i: int) -> dict[str, Any]:
    return outflow(person_number(i), name=f"测试{i}", person={"phone": f"139{i:08d}"})


def spoiled(line: int) -> str:
    body = good(line)
    field = BAD_LINES[line]
    if field == "person.id_number":
        body["person"]["id_number"] = (
            "11010519850231002X" if line == 7 else "99" + body["person"]["id_number"][2:]
        )
    elif field == "person.sex":
        body["person"]["sex"] = "M"
    elif field == "kind":
        body["kind"] = "transfer"
    elif field == "hukou_region":
        body["hukou_region"] = "440305"
    elif field == "person.birth_date":
        body["person"]["birth_date"] = "1970-01-01"
    elif field == "residence_region":
        body["residence_region"] = "123"
    elif field == "person.name":
        del body["person"]["name"]
    elif line == 333:
        return '{"kind": "outflow", '
    else:
        return "[1, 2, 3]"
    return json.dumps(body, ensure_ascii=False)


def ndjson_file(lines: int = 1000) -> bytes:
    rows = [spoiled(n) if n in BAD_LINES else json.dumps(good(n), ensure_ascii=False)
            for n in range(1, lines + 1)]  # fmt: skip
    return ("\n".join(rows) + "\n").encode()


def push(client: TestClient, member: MemberKey, content: bytes, content_type: str = NDJSON,
         **headers: str) -> Any:  # fmt: skip
    return client.post(
        BATCH, content=content, headers={**member.headers, "Content-Type": content_type, **headers}
    )


def count(hub: HubContext, model: Any) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_990_good_lines_land_and_10_bad_ones_are_reported(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    response = push(client, county_a, ndjson_file())
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["created"], result["rejected_count"]) == (990, 990, 10)
    assert {r["line"]: r["field"] for r in result["rejected"]} == BAD_LINES
    assert result["lines"] == 1000 and not result["rejected_truncated"]
    assert count(hub, Record) == 990
    with hub.sessions() as session:
        feed = session.scalars(select(Change).where(Change.object_type == "record")).all()
        ids = {str(i) for i in session.scalars(select(Record.id))}
    assert {c.object_id for c in feed} == ids and len(feed) == 990
    assert {(c.action, c.region_a, c.region_b) for c in feed} == {("created", "110105", "440305")}
    assert feed[0].summary == {"kind": "outflow", "version": 1}


def test_a_rerun_with_the_same_key_lands_nothing_new(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    content = ndjson_file()
    first = push(client, county_a, content, **{"Idempotency-Key": "nightly-2026-11-23"})
    again = push(client, county_a, content, **{"Idempotency-Key": "nightly-2026-11-23"})
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(hub, Record) == 990 and count(hub, Change) == 990


def test_a_rerun_without_a_key_changes_nothing_and_changed_lines_update(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    content = ndjson_file(200)
    push(client, county_a, content)
    rerun = push(client, county_a, content).json()
    assert (rerun["created"], rerun["updated"], rerun["unchanged"]) == (0, 0, 198)
    changed = good(1)
    changed["moved_on"] = "2026-05-05"
    twice = [
        json.dumps(good(2)),
        json.dumps(changed),
        json.dumps({**good(2), "moved_on": "2026-06-06"}),
    ]
    result = push(client, county_a, "\n".join(twice).encode()).json()
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 2, 1)
    assert count(hub, Record) == 198 and count(hub, RecordVersion) == 2


def test_csv_counts_the_header_as_line_1(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "kind",
            "id_number",
            "name",
            "sex",
            "hukou_region",
            "residence_region",
            "certificate.number",
        ]
    )
    for i in range(1, 51):
        sex = "M" if i == 20 else "F"
        writer.writerow(["outflow", person_number(i), f"张{i}", sex, "110105", "440305", "BJ-1"])
    result = push(client, county_a, ("\ufeff" + out.getvalue()).encode(), "text/csv").json()
    assert result["accepted"] == 49 and result["encoding"] == "utf-8"
    assert result["rejected"] == [
        {"line": 21, "field": "sex", "detail": "sex M does not agree with the ID number's F"}
    ]


def test_gbk_csv_is_detected(client: TestClient, hub: HubContext, county_a: MemberKey) -> None:
    text = "kind,id_number,name,address\r\n" + "".join(
        f"outflow,{person_number(i)},王秀英{i},北京市朝阳区{i}号\r\n" for i in range(30)
    )
    result = push(client, county_a, text.encode("gbk"), "text/csv").json()
    assert result["encoding"] == "gb18030" and result["accepted"] == 30
    with hub.sessions() as session:
        record = session.scalars(select(Record).limit(1)).one()
    assert (
        client.get(f"/api/v1/records/{record.id}", headers=county_a.headers)
        .json()["person"]["name"]
        .startswith("王秀英")
    )


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field"),
    [
        (b"kind,id_number\n", "application/xml", 415, "Content-Type"),
        (b"\x00\xff\xfe\xfd" * 100, NDJSON, 415, "body"),
        ("kind,id_number\n".encode("utf-16"), "text/csv", 415, "body"),
        (b"", NDJSON, 422, "body"),
        (b"kind,id_number,shoe_size\noutflow,x,42\n", "text/csv", 422, "header"),
        (b"kind,kind\n", "text/csv", 422, "header"),
        (b"kind\n", "text/csv; charset=latin-1", 415, "Content-Type"),
        ("kind\n".encode("gbk"), "application/x-ndjson; charset=gbk", 415, "Content-Type"),
    ],
)
def test_malformed_batches_are_problems(
    client: TestClient,
    county_a: MemberKey,
    content: bytes,
    content_type: str,
    status: int,
    field: str,
) -> None:
    response = push(client, county_a, content, content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


def test_bad_lines_of_every_kind_are_rejected_not_500(
    client: TestClient, county_a: MemberKey
) -> None:
    lines = [b"\xff\xfe not utf-8", b"42", b'"text"', b"{}", b"x" * (batch.MAX_LINE_BYTES + 10),
             json.dumps(good(1)).encode(), b"   ", b'{"kind": "outflow", "person": 5}']  # fmt: skip
    result = push(client, county_a, b"\n".join(lines)).json()
    assert result["accepted"] == 1
    assert [r["line"] for r in result["rejected"]] == [1, 2, 3, 4, 5, 8]
    assert "longer than" in result["rejected"][4]["detail"]


def test_the_rejected_list_is_capped_with_a_count(client: TestClient, county_a: MemberKey) -> None:
    content = b"\n".join(b"[]" for _ in range(bulk.REJECTED_LISTED_MAX + 200))
    result = push(client, county_a, content).json()
    assert len(result["rejected"]) == bulk.REJECTED_LISTED_MAX
    assert (
        result["rejected_count"] == bulk.REJECTED_LISTED_MAX + 200 and result["rejected_truncated"]
    )


def test_departments_and_admins_may_not_push(
    client: TestClient, hub: HubContext, admin_gd: MemberKey
) -> None:
    reporter = make_member(hub, role="department", region="110105", department="health")
    for member in (reporter, admin_gd):
        assert push(client, member, json.dumps(good(1)).encode()).status_code == 403


def _signed(member: MemberKey, private: str, content: bytes) -> dict[str, str]:
    timestamp = str(int(hub_clock.unix_seconds()))
    payload = signing_string("POST", BATCH, timestamp, hashlib.sha256(content).hexdigest())
    return {**member.headers, "X-Hub-Timestamp": timestamp,
            "X-Hub-Signature": crypto.sign_with_private_key(private, payload)}  # fmt: skip


def test_a_signing_member_batch_is_verified_over_the_streamed_body(
    client: TestClient, hub: HubContext
) -> None:
    private, public = crypto.generate_member_keypair()
    signer = make_member(hub, role="county", region="110105", public_key=public)
    content = ndjson_file(50)
    headers = {**_signed(signer, private, content), "Content-Type": NDJSON}
    response = client.post(BATCH, content=content, headers=headers)
    assert response.status_code == 200 and response.json()["accepted"] == 50 - 1
    tampered_headers = {**_signed(signer, private, content), "Content-Type": NDJSON}
    refused = client.post(BATCH, content=content + b"\n", headers=tampered_headers)
    assert refused.status_code == 401 and refused.json()["detail"] == "signature does not verify"
    unsigned = client.post(
        BATCH, content=content, headers={**signer.headers, "Content-Type": NDJSON}
    )
    assert unsigned.status_code == 401
    assert count(hub, Record) == 49


def test_an_oversize_batch_is_413(client: TestClient, hub: HubContext, county_a: MemberKey) -> None:
    hub.settings.max_batch_bytes = 10_000
    response = push(client, county_a, ndjson_file(100))
    assert response.status_code == 413 and response.json()["field"] == "body"
    assert count(hub, Record) == 0


def test_each_new_inflow_reaches_the_exchange_hook(
    client: TestClient, county_b: MemberKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange_hub.exchange import hooks
    from tests.records.factories import inflow

    seen: list[tuple[str, str, str | None]] = []

    def remember(session: object, caller: Any, record: Any) -> None:
        seen.append((caller.region, record.kind, record.hukou_region))

    def remember_chunk(session: object, caller: Any, records: Any, **_: Any) -> None:
        for record in records:
            remember(session, caller, record)

    monkeypatch.setattr(hooks, "inflow_registered", remember)
    monkeypatch.setattr(hooks, "inflows_registered", remember_chunk)
    monkeypatch.setattr(hooks, "append_inflow_changes", lambda *a, **k: None)
    lines = [json.dumps(inflow(person_number(i))) for i in range(3)]
    lines.append(json.dumps(outflow(person_number(9), county="440305")))
    result = push(client, county_b, "\n".join(lines).encode()).json()
    assert result["created"] == 4
    assert seen == [("440305", "inflow", "110105")] * 3
    again = push(client, county_b, "\n".join(lines).encode()).json()
    assert again["unchanged"] == 4 and len(seen) == 3
    single = client.post(
        "/api/v1/records", json=inflow(person_number(20)), headers=county_b.headers
    )
    assert single.status_code == 201 and len(seen) == 4


def test_a_batch_stores_each_record_exactly_as_a_single_push_would(
    client: TestClient, hub: HubContext, county_b: MemberKey
) -> None:
    """Rows built by the checking processes (binary COPY on PostgreSQL) read back the
    same as the single-record path stores them: every field, flag and date."""
    from tests.records.factories import inflow

    extra = {"phone": "13912345678", "address": "深圳市南山区科技园 1 号", "ethnicity": "01",
             "marital_status": "20", "children_count": 2, "contraception": "pill",
             "pregnancy_status": "pregnant", "last_birth_date": "2026-02-03"}  # fmt: skip
    single = inflow(person_number(1), person=dict(extra))
    batched = inflow(person_number(2), person=dict(extra), moved_on="2026-10-02")
    legacy = inflow(person_number(3)[:6] + person_number(3)[8:17], person={"name": "旧号"})
    one = client.post("/api/v1/records", json=single, headers=county_b.headers)
    assert one.status_code == 201, one.text
    lines = "\n".join(json.dumps(b, ensure_ascii=False) for b in (batched, legacy)).encode()
    assert push(client, county_b, lines).json()["created"] == 2
    with hub.sessions() as session:
        ids = {r.id_check_flagged or r.id_converted: str(r.id) for r in session.scalars(
            select(Record).where(Record.id != uuid.UUID(one.json()["id"])))}  # fmt: skip

    def read(record_id: str) -> dict[str, Any]:
        response = client.get(f"/api/v1/records/{record_id}", headers=county_b.headers)
        assert response.status_code == 200, response.text
        return {k: v for k, v in response.json().items()
                if k not in {"id", "created_at", "updated_at"}}  # fmt: skip

    first, second = read(one.json()["id"]), read(ids[False])
    assert second["person"].pop("id_number") == person_number(2)
    first["person"].pop("id_number")
    first["person"].pop("birth_date"), second["person"].pop("birth_date")
    assert second == first
    converted = read(ids[True])
    assert converted["quality"]["id_converted"] is True
    assert converted["person"]["id_number"] == person_number(3)[:6] + "19" + person_number(3)[8:]


def test_a_fault_in_the_checks_rejects_the_line_not_the_batch(
    client: TestClient, county_a: MemberKey, checking_mode: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A bug met by one line (here: prepare raising) is that line's refusal, logged
    without the line's content; the other lines land."""
    if checking_mode != "inline":
        pytest.skip("the fault is planted in this process")
    from exchange_hub.records import values

    real = values.prepare

    def faulty(ctx: Any, body: Any) -> Any:
        if body.person.name == "测试2":
            raise ValueError("invalid literal for int(): '11010519850231002X'")
        return real(ctx, body)

    monkeypatch.setattr(values, "prepare", faulty)
    lines = "\n".join(json.dumps(good(i), ensure_ascii=False) for i in range(1, 4)).encode()
    result = push(client, county_a, lines).json()
    assert result["created"] == 2 and [r["line"] for r in result["rejected"]] == [2]
    assert "could not check" in result["rejected"][0]["detail"]
    assert "ValueError" in caplog.text and "11010519850231002X" not in caplog.text

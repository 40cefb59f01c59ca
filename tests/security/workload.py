"""A workload through the real API and console that submits made-up person data
everywhere a member or clerk can send it, for the data-exposure scans."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.logging_setup import JsonFormatter
from tests.fixtures.hub import MemberKey, make_member
from tests.security.exposure import Person
from tests.web.helpers import csrf_from, make_user, sign_in

NDJSON = "application/x-ndjson"
CONSOLE_PAGES = (
    "/console", "/console/overview", "/console/drilldown", "/console/latency",
    "/console/bulletin", "/console/reports", "/console/scorecard", "/console/audit",
    "/console/account",
)  # fmt: skip


@dataclass
class Members:
    chaoyang: MemberKey  # 110105
    nanshan: MemberKey  # 440305
    police: MemberKey  # department reporter of 110105
    nation: MemberKey  # admin with the person-data grant


def members(hub: HubContext) -> Members:
    return Members(
        chaoyang=make_member(hub, role="county", region="110105"),
        nanshan=make_member(hub, role="county", region="440305"),
        police=make_member(hub, role="department", region="110105", department="police"),
        nation=make_member(hub, role="admin", region="000000", person_data_grant=True),
    )


@dataclass
class Logs:
    """Everything logged while the workload ran, as each of the hub's handlers wrote it."""

    streams: dict[str, io.StringIO] = field(default_factory=dict)

    def texts(self) -> dict[str, str]:
        return {name: stream.getvalue() for name, stream in self.streams.items()}


@contextmanager
def captured_logs(extra: logging.Handler) -> Iterator[Logs]:
    """The hub's own handler (its access log) writes to a buffer; a JSON handler and
    ``extra`` (pytest's caplog) sit beside it on the ``exchange_hub`` logger, which
    does not propagate."""
    hub_logger = logging.getLogger("exchange_hub")
    logs = Logs({"hub handler": io.StringIO(), "json handler": io.StringIO()})
    json_handler = logging.StreamHandler(logs.streams["json handler"])
    json_handler.setFormatter(JsonFormatter())
    own = [h for h in hub_logger.handlers if type(h) is logging.StreamHandler]  # not caplog
    previous = [h.setStream(logs.streams["hub handler"]) for h in own]
    hub_logger.addHandler(json_handler)
    hub_logger.addHandler(extra)
    try:
        yield logs
    finally:
        hub_logger.removeHandler(json_handler)
        hub_logger.removeHandler(extra)
        for handler, stream in zip(own, previous, strict=True):
            handler.setStream(stream)  # type: ignore[arg-type]


def _ok(response: Any, *codes: int) -> Any:
    assert response.status_code in (codes or (200, 201)), response.text
    return response.json() if "json" in response.headers.get("content-type", "") else None


def person_json(person: Person, **extra: Any) -> dict[str, Any]:
    return {
        "id_number": person.submitted_id, "name": person.name, "sex": person.sex,
        "birth_date": person.birth_date.isoformat(), "phone": person.phone,
        "address": person.address, **extra,
    }  # fmt: skip


def outflow(person: Person) -> dict[str, Any]:
    return {
        "kind": "outflow", "person": person_json(person), "hukou_region": "110105",
        "residence_region": "440305", "moved_on": "2026-03-01",
    }  # fmt: skip


def inflow(person: Person) -> dict[str, Any]:
    return {
        "kind": "inflow", "person": person_json(person), "hukou_region": "110105",
        "residence_region": "440305", "moved_on": "2026-10-02", "certificate_checked": True,
        "certificate": {"number": "BJ2026-0001", "issued_by": "110105",
                        "valid_until": "2028-10-01"},
    }  # fmt: skip


def _key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def single_records(client: TestClient, m: Members, people: list[Person]) -> str:
    """Create (and replay) one record, patch it to another person's contact data, and
    create one from a 15-digit ID number; all with Idempotency-Keys."""
    first, other, legacy = people
    headers = _key(m.chaoyang.headers, "create-1")
    created = _ok(client.post("/api/v1/records", json=outflow(first), headers=headers), 201)
    replay = client.post("/api/v1/records", json=outflow(first), headers=headers)
    assert replay.headers.get("idempotent-replayed") == "true", replay.text
    assert replay.json() == created
    patch = {"person": {"name": other.name, "phone": other.phone, "address": other.address}}
    path = f"/api/v1/records/{created['id']}"
    _ok(client.patch(path, json=patch, headers=_key(m.chaoyang.headers, "patch-1")))
    _ok(client.post("/api/v1/records", json=outflow(legacy), headers=_key(m.chaoyang.headers,
        "create-legacy")), 201)  # fmt: skip
    _ok(client.get(path, headers=m.chaoyang.headers))
    _ok(client.get(f"{path}/versions", headers=m.chaoyang.headers))
    return str(created["id"])


def batches(client: TestClient, m: Members, ndjson: list[Person], csv_people: list[Person],
            refused: Person) -> None:  # fmt: skip
    """An NDJSON and a CSV batch of inflows; one NDJSON line is refused (its ID number
    names a 13th month), so the stored answer lists a rejection."""
    bad = inflow(refused)
    bad["person"]["id_number"] = refused.id_number[:10] + "13" + refused.id_number[12:]
    del bad["person"]["birth_date"], bad["person"]["sex"]
    lines = [json.dumps(inflow(p), ensure_ascii=False) for p in ndjson] + [
        json.dumps(bad, ensure_ascii=False)
    ]
    body = ("\n".join(lines) + "\n").encode()
    headers = {**_key(m.nanshan.headers, "batch-ndjson"), "Content-Type": NDJSON}
    result = _ok(client.post("/api/v1/records/batch", content=body, headers=headers))
    assert result["accepted"] == len(ndjson) and result["rejected_count"] == 1, result
    out = io.StringIO()
    columns = ["kind", "id_number", "name", "sex", "birth_date", "phone", "address",
               "hukou_region", "residence_region", "moved_on", "certificate_checked"]  # fmt: skip
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for p in csv_people:
        row = {**inflow(p)["person"], "kind": "inflow", "hukou_region": "110105",
               "residence_region": "440305", "moved_on": "2026-10-02",
               "certificate_checked": "true"}  # fmt: skip
        writer.writerow({c: row[c] for c in columns})
    headers = {**_key(m.nanshan.headers, "batch-csv"), "Content-Type": "text/csv"}
    result = _ok(client.post("/api/v1/records/batch", content=out.getvalue().encode(),
                             headers=headers))  # fmt: skip
    assert result["accepted"] == len(csv_people), result


def subject(person: Person) -> dict[str, Any]:
    return {"id_number": person.id_number, "name": person.name, "sex": person.sex,
            "birth_date": person.birth_date.isoformat()}  # fmt: skip


def messages(client: TestClient, m: Members, about_b: Person, about_a: Person) -> str:
    """A query with feedback naming the person, notifications, and a query left for the
    console. Returns the id of that last query (to Chaoyang)."""
    query = {"kind": "query", "urgency": "normal", "subject": subject(about_b),
             "to_region": "440305", "purpose": "核实婚育证明",
             "case_ref": "NS-2026-0042"}  # fmt: skip
    sent = _ok(client.post("/api/v1/messages", json=query,
                           headers=_key(m.chaoyang.headers, "query-1")), 201)  # fmt: skip
    path = f"/api/v1/messages/{sent['id']}"
    _ok(client.get(path, headers=m.nanshan.headers))
    _ok(client.post(f"{path}/receipt", headers=_key(m.nanshan.headers, "receipt-1")))
    feedback = {
        "result": "mismatch",
        "verified": {"name": about_b.name, "phone": about_b.phone},
        "differences": [{"field": "address", "recorded": about_b.address,
                         "reported": about_a.address}],
        "note": f"{about_b.name} 电话 {about_b.phone}",
    }  # fmt: skip
    _ok(client.post(f"{path}/feedback", json=feedback, headers=_key(m.nanshan.headers,
        "feedback-1")))  # fmt: skip
    _ok(client.get(path, headers=m.chaoyang.headers))
    health = {"kind": "notification", "type": "health_check", "subject": subject(about_a),
              "to_region": "110105", "purpose": "service information",
              "health_check": {"checked_on": "2026-10-02", "result": "normal"}}  # fmt: skip
    _ok(client.post("/api/v1/messages", json=health,
                    headers=_key(m.nanshan.headers, "notice-1")), 201)  # fmt: skip
    other = {"kind": "notification", "type": "other", "subject": subject(about_a),
             "to_region": "110105", "purpose": "service information",
             "note": f"{about_a.name} {about_a.address} {about_a.phone}"}  # fmt: skip
    _ok(client.post("/api/v1/messages", json=other, headers=m.nanshan.headers), 201)
    for member in (m.chaoyang, m.nanshan):
        _ok(client.get("/api/v1/inbox", headers=member.headers))
        _ok(client.get("/api/v1/outbox", headers=member.headers))
    back = {**query, "subject": subject(about_a), "to_region": "110105", "case_ref": None}
    sent = _ok(client.post("/api/v1/messages", json=back, headers=m.nanshan.headers), 201)
    return str(sent["id"])


def lookups(client: TestClient, m: Members, person: Person) -> None:
    """By ID number and by name + birth date + sex; the purposes name the person too."""
    by_id = {"id_number": person.id_number, "purpose": f"查询{person.id_number}的婚育证明"}
    by_name = {"name": person.name, "birth_date": person.birth_date.isoformat(),
               "sex": person.sex, "purpose": f"核实 电话+86 {person.phone}"}  # fmt: skip
    for body in (by_id, by_name):
        found = _ok(client.post("/api/v1/persons/lookup", json=body, headers=m.chaoyang.headers))
        assert found["matches"], found


def reports(client: TestClient, m: Members) -> None:
    body = {"department": "police", "region": "110105", "period": "2026-10",
            "counts": {"temporary_residence_registrations": 120, "moved_out": 7}}  # fmt: skip
    _ok(client.post("/api/v1/reports", json=body, headers=_key(m.police.headers, "report-1")),
        201)  # fmt: skip
    _ok(client.get("/api/v1/reports?region=110105&period=2026-10", headers=m.nation.headers))


def stray_requests(client: TestClient, m: Members, person: Person, record_id: str) -> None:
    """Person data where it does not belong: in a path without a key, in a path with
    one, and as the request id."""
    client.get(f"/api/v1/records/{person.id_number}")  # 401, audited with its path
    client.get(f"/api/v1/records/{person.id_number}", headers=m.chaoyang.headers)  # 422
    client.get(f"/api/v1/records/{record_id}",
               headers={**m.chaoyang.headers, "X-Request-ID": person.id_number})  # fmt: skip


def console(client: TestClient, hub: HubContext, query_id: str, person: Person) -> None:
    """A clerk answers a query from the to-do page; an admin reads every page."""
    make_user(hub, "clerk_chaoyang", role="county", region="110105", person_data=True)
    make_user(hub, "admin_nation", role="admin", region="000000", person_data=True)
    token = sign_in(client, "clerk_chaoyang")
    _ok(client.get("/console/todo"))
    form = {"csrf_token": token, "result": "found", "note": f"{person.name} {person.phone}"}
    done = client.post(f"/console/todo/{query_id}/answer", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    client.post("/console/sign-out", data={"csrf_token": csrf_from(client.get("/console").text)})
    sign_in(client, "admin_nation")
    for page in CONSOLE_PAGES:
        assert client.get(page).status_code == 200, page


def run(client: TestClient, hub: HubContext, m: Members, people: list[Person]) -> None:
    """Every way person data enters the hub, in the order a working day might see it."""
    record_id = single_records(client, m, people[0:3])
    batches(client, m, people[3:5], people[5:7], people[7])
    query_id = messages(client, m, people[3], people[0])
    lookups(client, m, people[3])
    reports(client, m)
    stray_requests(client, m, people[4], record_id)
    console(client, hub, query_id, people[0])
    audit = _ok(client.get("/api/v1/audit?limit=500", headers=m.nation.headers))
    assert audit["items"]

"""OWASP API3:2023, finding 6 of issue 15: free text that reaches the audit trail or
the logs (a look-up's purpose, a console user name typed at sign-in, a member's name,
a request path or request id) carries ID numbers and mobile numbers masked
(SPEC §7: ``110105********002X``; phones ``138****5678``).

Caught: 18-character ID numbers (last character a digit, ``X`` or ``x``) and 15-digit
legacy ones, alone, inside Chinese text without spaces, or written in the groups
region / birth date / rest (6-8-4, 6-6-3) separated by single spaces or dashes; mobile
numbers (11 digits, 13x-19x) with or without ``+86``/``0086``/``86`` and with single
spaces or dashes between the 3-4-4 groups. Not caught: other groupings (``4403 0519
7707 0707 77``), numbers spelled out in words or Chinese numerals, and digit runs
inside a hex digest of 32 characters or more (left alone so hashes, which the audit
chain keeps, stay intact).
"""

from __future__ import annotations

import io
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.logging_setup import JsonFormatter
from exchange_hub.masking import mask_text
from exchange_hub.members import service as members
from exchange_hub.models import AuditEvent, ConsoleSignInGuard, Message
from tests.fixtures.hub import MemberKey
from tests.web.helpers import post_sign_in

ID = "440305197707070777"
ID_X = "44030519770707077X"
LEGACY = "440305770707077"
PHONE = "13812345678"

# (free text, its masked form)
VARIANTS = [
    (f"查询{ID}的婚育证明", "查询440305********0777的婚育证明"),
    (f"查询 {ID}", "查询 440305********0777"),
    (f"核实{ID_X.lower()}号", "核实440305********077x号"),
    (f"核实{ID_X}", "核实440305********077X"),
    ("身份证 440305 19770707 0777 核实", "身份证 440305 ******** 0777 核实"),
    ("身份证440305-19770707-0777", "身份证440305-********-0777"),
    (f"旧证{LEGACY}核实", "旧证440305******077核实"),
    ("旧证 440305 770707 077", "旧证 440305 ****** 077"),
    (f"电话{PHONE}", "电话138****5678"),
    ("电话+86 138 1234 5678", "电话+86 138 **** 5678"),
    ("电话 +8613812345678。", "电话 +86138****5678。"),
    ("电话 0086-138-1234-5678", "电话 0086-138-****-5678"),
    (f"身份证{ID}电话{PHONE}", "身份证440305********0777电话138****5678"),
]
UNTOUCHED = [
    "HS256.a1b2c3d4.9f86d081884c7d659a2feaa0c55ad015123456789012345678a2b0b822cd15d6c15b0f00",
    "01a23552-da86-747f-a945-337524e9ff68",
    "3b1f0f5c2e8d4a6b9c0d1e2f3a4b5c6d",
    "counts 12345 and 1234567890123456789 and 2026-11-23T02:30:00Z",
    "region 440305 period 2026-10",
    # uuids whose last group holds a mobile-shaped run (CI found one masked in the audit trail)
    "01a235f6-47f1-76d0-982b-17776521694c",
    "/api/v1/messages/01a235f6-47f1-76d0-982b-17776521694c/feedback",
    "01A235F6-47F1-76D0-982B-13812345678F",
    "ids 01a235f6-47f1-76d0-982b-013812345678,01a235f6-47f1-76d0-982b-18612345678a",
    "01a235f6-47f1-76d0-982b-440305197707",
]
# a uuid next to a number keeps the number masked
UUID = "01a235f6-47f1-76d0-982b-17776521694c"
NEAR_A_UUID = [
    (f"{UUID} 电话13812345678", f"{UUID} 电话138****5678"),
    (f"电话13812345678-{UUID}", f"电话138****5678-{UUID}"),
]


@pytest.mark.parametrize(("text", "masked"), VARIANTS)
def test_free_text_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(("text", "masked"), NEAR_A_UUID)
def test_numbers_beside_a_uuid_are_still_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", UNTOUCHED)
def test_digests_ids_and_other_numbers_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def _audit_rows(hub: HubContext, action: str) -> list[AuditEvent]:
    with hub.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def _api_details(client: TestClient, admin: MemberKey, action: str) -> list[dict]:
    page = client.get(f"/api/v1/audit?action={action}&limit=500", headers=admin.headers)
    assert page.status_code == 200, page.text
    return [item["detail"] for item in page.json()["items"]]


def test_lookup_purposes_are_masked_in_the_audit_trail(
    client: TestClient, hub: HubContext, county_b: MemberKey, admin_nation: MemberKey
) -> None:
    for text, _ in VARIANTS:
        body = {"id_number": ID, "purpose": text}
        assert client.post("/api/v1/persons/lookup", json=body, headers=county_b.headers).is_success
    expected = [masked for _, masked in VARIANTS]
    assert [r.detail["purpose"] for r in _audit_rows(hub, "person.lookup")] == expected
    assert [d["purpose"] for d in _api_details(client, admin_nation, "person.lookup")] == expected
    verified = client.get("/api/v1/audit/verify", headers=admin_nation.headers).json()
    assert verified["ok"], verified


def test_other_free_text_reaching_the_audit_trail_is_masked(
    client: TestClient, hub: HubContext, admin_nation: MemberKey
) -> None:
    """A user name typed at sign-in, a member's name, a request path and a request id."""
    post_sign_in(client, f"张三{ID}", password="wrong password")
    [sign_in] = _audit_rows(hub, "console.sign_in")
    assert sign_in.detail == {"username": "张三440305********0777"}

    with transaction(hub.sessions) as session:
        issued = members.add_member(session, name=f"卫健局 {PHONE}", role="county",
                                    region="440106")  # fmt: skip
    headers = {"Authorization": f"Bearer {issued.api_key}", "X-Request-ID": ID}
    body = {"id_number": LEGACY, "purpose": "核实旧证"}
    assert client.post("/api/v1/persons/lookup", json=body, headers=headers).is_success
    [lookup] = _audit_rows(hub, "person.lookup")
    assert lookup.actor == "county:440106:卫健局 138****5678"
    assert lookup.request_id == "440305********0777"

    client.get(f"/api/v1/records/{ID}")  # no key: refused, and audited with its path
    [refused] = _audit_rows(hub, "auth.refused")
    assert refused.detail["path"] == "/api/v1/records/440305********0777"

    everything = str([(r.actor, r.request_id, r.detail) for r in _audit_rows_all(hub)])
    assert ID not in everything and PHONE not in everything and LEGACY not in everything
    assert client.get("/api/v1/audit/verify", headers=admin_nation.headers).json()["ok"]


def _audit_rows_all(hub: HubContext) -> list[AuditEvent]:
    with hub.sessions() as session:
        return list(session.scalars(select(AuditEvent)))


@pytest.fixture
def hub_log(client: TestClient) -> io.StringIO:
    """The hub's own log handler (installed when the app starts), writing to a buffer."""
    [handler] = [
        h for h in logging.getLogger("exchange_hub").handlers if type(h) is logging.StreamHandler
    ]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)  # type: ignore[arg-type]


def test_every_handler_gets_masked_log_records(
    hub_log: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    """Masking happens to the record, so pytest's handler, a JSON handler and any
    handler added later see it masked; arguments keep their shape (uvicorn's access
    formatter unpacks them)."""
    log = logging.getLogger("exchange_hub.test")
    json_buffer = io.StringIO()
    json_handler = logging.StreamHandler(json_buffer)
    json_handler.setFormatter(JsonFormatter())
    for handler in (json_handler, caplog.handler):
        logging.getLogger("exchange_hub").addHandler(handler)
    try:
        caplog.set_level(logging.INFO)
        for text, _ in VARIANTS:
            log.info("purpose %s", text, extra={"path": f"/x/{ID}"})
        try:
            raise ValueError(f"bad {ID} {PHONE}")
        except ValueError:
            log.exception("failed for %s", ID)
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/r?id={ID}", "1.1", 200
        )
    finally:
        for handler in (json_handler, caplog.handler):
            logging.getLogger("exchange_hub").removeHandler(handler)
    access = [r for r in caplog.records if r.name == "uvicorn.access"]
    assert access and len(access[0].args) == 5  # type: ignore[arg-type]
    for output in (hub_log.getvalue(), json_buffer.getvalue(), caplog.text):
        for _, masked in VARIANTS:
            assert masked in output or masked in output.replace("\\", "")
        assert ID not in output and PHONE not in output and LEGACY not in output, output


# -- free text stored outside the audit trail: masked where it is stored ---------------
def test_a_message_purpose_and_case_ref_are_not_stored_in_clear(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    body = {"kind": "query", "urgency": "normal", "subject": {"id_number": ID},
            "to_region": "440305", "purpose": f"查询{ID}", "case_ref": f"电话{PHONE}"}  # fmt: skip
    assert client.post("/api/v1/messages", json=body, headers=county_a.headers).status_code == 201
    with hub.sessions() as session:
        stored = session.execute(select(Message.purpose, Message.case_ref)).one()
    assert ID not in str(stored) and PHONE not in str(stored), stored


def test_a_failed_sign_in_name_is_not_stored_in_clear(client: TestClient, hub: HubContext) -> None:
    post_sign_in(client, f"张三{ID}", password="wrong password")
    with hub.sessions() as session:
        names = list(session.scalars(select(ConsoleSignInGuard.username)))
    assert names and not any(ID in name for name in names), names

"""OWASP API1:2023 Broken Object Level Authorization: who sees which person (SPEC §6).

Finding 5 of the probe (issue 15): admin 410000 with the person-data grant
got ``grade: certain`` from ``POST /api/v1/persons/lookup`` for a record
entirely in Guangdong (440305 ← 440106), while ``GET /records/{id}`` of the
same record was 404. An admin sees persons only within its region — as the
registering county, the other county, the household-registration or the
residence region of the record — and the nation admin sees all. Every read
of records applies that one rule, so the look-up answers exactly what GET
answers, and an out-of-scope record is answered like a missing one.

Counties read the records naming their county; their look-ups reach the
whole nation (that is what a look-up is for, SPEC §3) and answer only the
grade, kind, registering county, status and certificate status.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent
from tests.fixtures.hub import MemberKey, make_member
from tests.records.factories import id_number, inflow, outflow

LOOKUP = "/api/v1/persons/lookup"
BORN = date(1988, 6, 21)
GD_PERSON = id_number("440106", BORN, seq=7)  # household registration: Guangzhou Tianhe
NAME = "陈嘉欣"
BY_ID = {"id_number": GD_PERSON}
BY_NAME = {"name": NAME, "birth_date": BORN.isoformat(), "sex": "F"}
BY_BOTH = {**BY_ID, **BY_NAME}
FORMS = {"id_number": BY_ID, "name, birth_date, sex": BY_NAME, "both": BY_BOTH}


def admin(hub: HubContext, region: str) -> MemberKey:
    return make_member(hub, role="admin", region=region, person_data_grant=True)


def county(hub: HubContext, region: str) -> MemberKey:
    return make_member(hub, role="county", region=region)


def look_up(client: TestClient, member: MemberKey, query: dict[str, Any]) -> Any:
    body = {"purpose": "service equalisation check", **query}
    return client.post(LOOKUP, json=body, headers=member.headers)


def grades(client: TestClient, member: MemberKey, query: dict[str, Any]) -> list[str]:
    response = look_up(client, member, query)
    assert response.status_code == 200, response.text
    return [m["grade"] for m in response.json()["matches"]]


@pytest.fixture
def guangdong_record(client: TestClient, hub: HubContext) -> str:
    """An inflow registered by Shenzhen Nanshan (440305) of a person from Guangzhou Tianhe."""
    nanshan = county(hub, "440305")
    body = inflow(GD_PERSON, name=NAME, county="440305", hukou_region="440106")
    response = client.post("/api/v1/records", json=body, headers=nanshan.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# -- finding 5 as reported -------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_an_admin_of_another_province_finds_nobody(
    client: TestClient, hub: HubContext, guangdong_record: str, form: str
) -> None:
    henan = admin(hub, "410000")
    assert (
        client.get(f"/api/v1/records/{guangdong_record}", headers=henan.headers).status_code == 404
    )
    assert grades(client, henan, FORMS[form]) == []


@pytest.mark.parametrize(
    ("region", "sees"),
    [
        ("000000", True),  # the nation
        ("440000", True),  # Guangdong: both ends
        ("440300", True),  # Shenzhen: the residence and registering county
        ("440100", True),  # Guangzhou: the household registration
        ("440500", False),  # Shantou: neither
        ("410000", False),  # Henan
        ("410100", False),  # Zhengzhou
    ],
)
@pytest.mark.parametrize("form", FORMS)
def test_an_admin_sees_persons_of_its_region_alike_in_get_and_lookup(
    client: TestClient, hub: HubContext, guangdong_record: str, region: str, sees: bool, form: str
) -> None:
    member = admin(hub, region)
    read = client.get(f"/api/v1/records/{guangdong_record}", headers=member.headers)
    assert read.status_code == (200 if sees else 404), read.text
    versions = client.get(f"/api/v1/records/{guangdong_record}/versions", headers=member.headers)
    assert versions.status_code == (200 if sees else 404), versions.text
    expected = {
        "id_number": ["certain"],
        "name, birth_date, sex": ["probable"],
        "both": ["certain"],
    }
    assert grades(client, member, FORMS[form]) == (expected[form] if sees else [])


def test_an_admin_without_the_grant_is_refused_before_anything_is_searched(
    client: TestClient, hub: HubContext, guangdong_record: str
) -> None:
    plain = make_member(hub, role="admin", region="440000")
    assert look_up(client, plain, BY_ID).status_code == 403
    assert (
        client.get(f"/api/v1/records/{guangdong_record}", headers=plain.headers).status_code == 403
    )


# -- counties ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("region", "reads"),
    [("440305", True), ("440106", True), ("440304", False), ("110105", False)],
)
def test_a_county_reads_the_records_naming_it(
    client: TestClient, hub: HubContext, guangdong_record: str, region: str, reads: bool
) -> None:
    member = county(hub, region)
    read = client.get(f"/api/v1/records/{guangdong_record}", headers=member.headers)
    assert read.status_code == (200 if reads else 404), read.text


@pytest.mark.parametrize("region", ["440305", "440106", "110105", "650102"])
@pytest.mark.parametrize("form", FORMS)
def test_a_county_looks_up_across_the_nation_and_learns_little(
    client: TestClient, hub: HubContext, guangdong_record: str, region: str, form: str
) -> None:
    response = look_up(client, county(hub, region), FORMS[form])
    assert response.status_code == 200, response.text
    (match,) = response.json()["matches"]
    assert set(match) == {"grade", "kind", "registration_region", "active", "certificate_status"}
    assert match["registration_region"] == "440305"


def test_a_department_reads_no_person(
    client: TestClient, hub: HubContext, guangdong_record: str
) -> None:
    police = make_member(hub, role="department", region="440305", department="police")
    assert look_up(client, police, BY_ID).status_code == 403
    assert (
        client.get(f"/api/v1/records/{guangdong_record}", headers=police.headers).status_code == 403
    )


# -- a record that moved between provinces ----------------------------------------------------
MOVER = id_number("110105", date(1979, 2, 3), seq=11)


@pytest.fixture
def moved_record(client: TestClient, hub: HubContext) -> str:
    """An outflow of Beijing Chaoyang to Shenzhen Nanshan, then corrected to Hangzhou Xihu."""
    chaoyang = county(hub, "110105")
    body = outflow(MOVER, name="赵立伟", county="110105", residence_region="440305")
    created = client.post("/api/v1/records", json=body, headers=chaoyang.headers)
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    patch = {"residence_region": "330106"}
    changed = client.patch(f"/api/v1/records/{record_id}", json=patch, headers=chaoyang.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["other_region"] == "330106"
    return str(record_id)


@pytest.mark.parametrize(
    ("member", "sees"),
    [
        (("admin", "440000"), False),  # the old version was in Guangdong, the record is not
        (("admin", "440300"), False),
        (("county", "440305"), False),
        (("admin", "330000"), True),
        (("admin", "330100"), True),
        (("county", "330106"), True),
        (("admin", "110000"), True),
        (("county", "110105"), True),
    ],
)
def test_scope_follows_the_current_version(
    client: TestClient, hub: HubContext, moved_record: str, member: tuple[str, str], sees: bool
) -> None:
    role, region = member
    caller = admin(hub, region) if role == "admin" else county(hub, region)
    for path in (f"/api/v1/records/{moved_record}", f"/api/v1/records/{moved_record}/versions"):
        assert client.get(path, headers=caller.headers).status_code == (200 if sees else 404)
    if role == "admin":
        query = {"id_number": MOVER}
        assert grades(client, caller, query) == (["certain"] if sees else [])


def test_the_old_side_hears_no_more_of_a_moved_record(
    client: TestClient, hub: HubContext, moved_record: str
) -> None:
    nanshan = county(hub, "440305")
    feed = client.get("/api/v1/changes", headers=nanshan.headers).json()["items"]
    seen = [(c["action"], c["summary"]["version"]) for c in feed if c["object_id"] == moved_record]
    assert seen == [("created", 1)]


# -- no oracle --------------------------------------------------------------------------------
def _without_id(problem: dict[str, Any], record_id: str) -> dict[str, Any]:
    return {k: str(v).replace(record_id, "<id>") for k, v in problem.items()}


def test_out_of_scope_reads_like_missing(
    client: TestClient, hub: HubContext, guangdong_record: str
) -> None:
    henan = admin(hub, "410000")
    missing = str(uuid.uuid4())
    for suffix in ("", "/versions"):
        hidden = client.get(f"/api/v1/records/{guangdong_record}{suffix}", headers=henan.headers)
        absent = client.get(f"/api/v1/records/{missing}{suffix}", headers=henan.headers)
        assert hidden.status_code == absent.status_code == 404
        assert hidden.headers["content-type"] == absent.headers["content-type"]
        assert _without_id(hidden.json(), guangdong_record) == _without_id(absent.json(), missing)


@pytest.mark.parametrize("form", FORMS)
def test_out_of_scope_lookup_reads_like_nobody(
    client: TestClient, hub: HubContext, guangdong_record: str, form: str
) -> None:
    henan = admin(hub, "410000")
    nobody = {
        "id_number": id_number("440106", BORN, seq=8),
        "name": "陈嘉怡", "birth_date": BORN.isoformat(), "sex": "F",
    }  # fmt: skip
    hidden = look_up(client, henan, FORMS[form])
    absent = look_up(client, henan, {k: nobody[k] for k in FORMS[form]})
    assert hidden.status_code == absent.status_code == 200
    assert hidden.json() == absent.json() == {"matches": []}


def test_the_audit_counts_only_what_the_caller_was_shown(
    client: TestClient, hub: HubContext, guangdong_record: str
) -> None:
    henan = admin(hub, "410000")
    look_up(client, henan, BY_ID)
    with hub.sessions() as session:
        entry = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "person.lookup", AuditEvent.region == "410000"
            )
        ).one()
    assert entry.detail["matches"] == 0

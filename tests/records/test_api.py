"""Records API (SPEC §6, §9): who may write and read, versions, re-push, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent, Change
from tests.fixtures.hub import MemberKey, make_member
from tests.records.factories import id_number, inflow, outflow

RECORDS = "/api/v1/records"


def create(client: TestClient, member: MemberKey, body: dict[str, Any], **headers: str) -> Any:
    return client.post(RECORDS, json=body, headers={**member.headers, **headers})


def problem_of(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    if field is not None:
        assert problem["field"] == field, problem
    return problem


def test_create_returns_201_with_the_record(client: TestClient, county_a: MemberKey) -> None:
    response = create(client, county_a, outflow(id_number()))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcome"] == "created" and body["version"] == 1
    assert body["registering_region"] == "110105" and body["other_region"] == "440305"
    assert body["person"]["birth_date"] == "1985-03-14" and body["person"]["sex"] == "F"
    assert body["key_object"] and body["key_reasons"] == ["no_valid_certificate"]


def test_registering_side_defaults_to_the_caller(client: TestClient, county_b: MemberKey) -> None:
    body = inflow(id_number())
    del body["residence_region"]
    response = create(client, county_b, body)
    assert response.status_code == 201, response.text
    assert response.json()["residence_region"] == "440305"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (outflow(id_number(), county="440305"), "hukou_region"),
        (inflow(id_number(), county="440305"), "residence_region"),
    ],
)
def test_a_county_writes_only_its_registering_side(
    client: TestClient, hub: HubContext, county_a: MemberKey, body: dict[str, Any], field: str
) -> None:
    problem_of(create(client, county_a, body), 403, field)
    with hub.sessions() as session:
        refused = session.scalars(select(AuditEvent).where(AuditEvent.outcome == "refused")).all()
    assert any(e.action == "scope.refused" for e in refused)


def test_the_other_county_reads_but_may_not_write(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    record_id = create(client, county_a, outflow(id_number())).json()["id"]
    assert client.get(f"{RECORDS}/{record_id}", headers=county_b.headers).status_code == 200
    patch = client.patch(
        f"{RECORDS}/{record_id}", json={"moved_on": "2026-04-01"}, headers=county_b.headers
    )
    problem_of(patch, 403, "id")
    deregister = client.post(
        f"{RECORDS}/{record_id}/deregister", json={"reason": "died"}, headers=county_b.headers
    )
    problem_of(deregister, 403)


def test_unrelated_counties_and_departments_get_nothing(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    record_id = create(client, county_a, outflow(id_number())).json()["id"]
    stranger = make_member(hub, role="county", region="310101")
    for method, path, body in (
        ("GET", f"{RECORDS}/{record_id}", None),
        ("GET", f"{RECORDS}/{record_id}/versions", None),
        ("PATCH", f"{RECORDS}/{record_id}", {"moved_on": "2026-04-01"}),
        ("POST", f"{RECORDS}/{record_id}/deregister", {"reason": "died"}),
    ):
        response = client.request(method, path, json=body, headers=stranger.headers)
        assert problem_of(response, 404)["detail"] == f"no record {record_id}"
    reporter = make_member(hub, role="department", region="110105", department="police")
    problem_of(client.get(f"{RECORDS}/{record_id}", headers=reporter.headers), 403)
    problem_of(create(client, reporter, outflow(id_number(seq=2))), 403)


def test_admins_read_only_with_a_grant_and_every_read_is_audited(
    client: TestClient, hub: HubContext, county_a: MemberKey, admin_gd: MemberKey
) -> None:
    record_id = create(client, county_a, outflow(id_number())).json()["id"]
    problem_of(client.get(f"{RECORDS}/{record_id}", headers=admin_gd.headers), 403)
    granted = make_member(hub, role="admin", region="440000", person_data_grant=True)
    assert client.get(f"{RECORDS}/{record_id}", headers=granted.headers).status_code == 200
    elsewhere = make_member(hub, role="admin", region="310000", person_data_grant=True)
    problem_of(client.get(f"{RECORDS}/{record_id}", headers=elsewhere.headers), 404)
    with hub.sessions() as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "record.read")).all()
    assert [r.object_id for r in reads] == [record_id]
    assert reads[0].detail["id_number"] == "110105********0021"


def test_every_change_is_kept_as_a_version(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    record_id = create(client, county_a, outflow(id_number())).json()["id"]
    patched = client.patch(
        f"{RECORDS}/{record_id}",
        json={"person": {"phone": "13800138000"}, "residence_region": "440300"},
        headers=county_a.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2 and patched.json()["other_region"] is None
    ended = client.post(
        f"{RECORDS}/{record_id}/deregister",
        json={"reason": "returned_home", "on": "2026-11-01"},
        headers=county_a.headers,
    )
    assert ended.json()["deregistration"] == {"reason": "returned_home", "on": "2026-11-01"}
    versions = client.get(f"{RECORDS}/{record_id}/versions", headers=county_a.headers).json()
    items = versions["items"]
    assert [(v["version"], v["action"]) for v in items] == [
        (1, "created"), (2, "updated"), (3, "deregistered"),
    ]  # fmt: skip
    assert items[0]["record"]["person"]["phone"] is None
    assert items[1]["record"]["person"]["phone"] == "13800138000"
    assert items[2]["record"]["status"] == "deregistered"
    again = client.post(
        f"{RECORDS}/{record_id}/deregister", json={"reason": "died"}, headers=county_a.headers
    )
    problem_of(again, 409)
    with hub.sessions() as session:
        feed = session.scalars(select(Change).where(Change.object_id == record_id)).all()
    assert [c.action for c in feed] == ["created", "updated", "deregistered"]
    assert (feed[0].region_a, feed[0].region_b) == ("110105", "440305")


def test_a_re_push_updates_instead_of_duplicating(client: TestClient, county_a: MemberKey) -> None:
    first = create(client, county_a, outflow(id_number())).json()
    same = create(client, county_a, outflow(id_number()))
    assert same.status_code == 201 and same.json()["outcome"] == "unchanged"
    changed = create(client, county_a, outflow(id_number(), residence_region="440304")).json()
    assert changed["outcome"] == "updated" and changed["id"] == first["id"]
    assert changed["version"] == 2 and changed["residence_region"] == "440304"
    ended = client.post(
        f"{RECORDS}/{first['id']}/deregister", json={"reason": "moved_on"}, headers=county_a.headers
    )
    assert ended.status_code == 200
    fresh = create(client, county_a, outflow(id_number())).json()
    assert fresh["outcome"] == "created" and fresh["id"] != first["id"]


def test_a_legacy_number_is_the_same_person(client: TestClient, county_a: MemberKey) -> None:
    new = create(client, county_a, outflow("11010519491231002X")).json()
    legacy = create(client, county_a, outflow("110105491231002")).json()
    assert legacy["id"] == new["id"] and legacy["outcome"] == "unchanged"
    converted = create(client, county_a, outflow("110105491231004")).json()
    assert converted["quality"]["id_converted"]
    assert converted["person"]["id_number"] == "110105194912310046"


def test_the_same_idempotency_key_replays(client: TestClient, county_a: MemberKey) -> None:
    body = outflow(id_number())
    first = create(client, county_a, body, **{"Idempotency-Key": "k-1"})
    second = create(client, county_a, body, **{"Idempotency-Key": "k-1"})
    assert second.status_code == 201 and second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other = create(client, county_a, outflow(id_number(seq=9)), **{"Idempotency-Key": "k-1"})
    problem_of(other, 422, "Idempotency-Key")


BAD_BODIES: list[tuple[dict[str, Any], str, str]] = [
    ({**outflow(id_number()), "kind": "sideways"}, "kind", "outflow"),
    (outflow("12345"), "person.id_number", "18 characters"),
    (outflow("99010519850314002X"), "person.id_number", "region prefix"),
    (outflow(id_number(), person={"sex": "M"}), "person.sex", "sex M does not agree"),
    (outflow(id_number(), person={"birth_date": "1985-03-15"}), "person.birth_date", "1985-03-14"),
    (outflow(id_number(), person={"birth_date": "1985-02-30"}), "person.birth_date", "date"),
    (outflow(id_number(), residence_region="99"), "residence_region", "catalogue"),
    (outflow(id_number(), residence_region="44x"), "residence_region", "6-digit"),
    (outflow(id_number(), residence_region="110103"), "residence_region", "abolished"),
    (inflow(id_number(), county="110105", hukou_region="110103"), "hukou_region", "not a current"),
    (outflow(id_number(), person={"contraception": "prayer"}), "person.contraception", "iud"),
    (outflow(id_number(), person={"children_count": -1}), "person.children_count", "0"),
    (outflow(id_number(), person={"nickname": "x"}), "person.nickname", "Extra"),
    (
        outflow(id_number(), certificate={"issued_on": "2026-01-01", "valid_until": "2025-01-01"}),
        "certificate.valid_until", "before",
    ),
    (
        outflow(id_number(), certificate={"issued_by": "990000"}),
        "certificate.issued_by", "catalogue",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field", "words"), BAD_BODIES)
def test_bad_records_are_refused_with_the_field(
    client: TestClient, county_a: MemberKey, body: dict[str, Any], field: str, words: str
) -> None:
    problem = problem_of(create(client, county_a, body), 422, field)
    assert words in problem["detail"]


def test_strict_policy_refuses_a_wrong_check_character(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    flagged = id_number()[:-1] + ("0" if id_number()[-1] != "0" else "1")
    lenient = create(client, county_a, outflow(flagged)).json()
    assert lenient["quality"]["id_check_flagged"]
    hub.settings.id_policy = "strict"
    problem = problem_of(create(client, county_a, outflow(id_number(seq=4)[:-1] + "X")), 422)
    assert problem["field"] == "person.id_number" and "check character" in problem["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 422),
        (b"[]", "application/json", 422),
        (b'{"kind": "outflow"}', "application/json", 422),
        (b"\xff\xfe", "application/json", 422),
    ],
)
def test_malformed_bodies_are_problems(
    client: TestClient, county_a: MemberKey, content: bytes, content_type: str, status: int
) -> None:
    response = client.post(
        RECORDS, content=content, headers={**county_a.headers, "Content-Type": content_type}
    )
    problem_of(response, status)


def test_unknown_record_ids_are_404(client: TestClient, county_a: MemberKey) -> None:
    problem_of(
        client.get(f"{RECORDS}/00000000-0000-0000-0000-000000000000", headers=county_a.headers), 404
    )
    problem_of(client.get(f"{RECORDS}/not-a-uuid", headers=county_a.headers), 422)

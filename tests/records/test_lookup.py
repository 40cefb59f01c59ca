"""Person look-up (SPEC §3): grades, purpose, audit, and an answer that tells little."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import AuditEvent
from exchange_hub.records import service
from tests.fixtures.hub import MemberKey, make_member
from tests.records.factories import id_number, inflow, outflow

LOOKUP = "/api/v1/persons/lookup"
NUMBER = id_number("110105", date(1985, 3, 14), seq=5)


@pytest.fixture
def registered(client: TestClient, county_a: MemberKey, county_b: MemberKey) -> None:
    client.post("/api/v1/records", json=outflow(NUMBER, name="王 秀英"), headers=county_a.headers)
    certificate = {"number": "C-1", "issued_by": "110105", "valid_until": "2020-01-01"}
    arrival = inflow(NUMBER, name="王秀英", certificate=certificate)
    client.post("/api/v1/records", json=arrival, headers=county_b.headers)


def ask(client: TestClient, member: MemberKey, **query: Any) -> Any:
    return client.post(
        LOOKUP, json={"purpose": "service equalisation", **query}, headers=member.headers
    )


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize(
    ("query", "grades"),
    [
        ({"id_number": NUMBER}, ["certain", "certain"]),
        ({"name": "王秀英", "birth_date": "1985-03-14", "sex": "F"}, ["probable", "probable"]),
        ({"name": "王·秀英 ", "birth_date": "1985-03-14", "sex": "F"}, []),
        ({"name": "ＷＡＮＧ", "birth_date": "1985-03-14", "sex": "F"}, []),
        ({"name": "王秀英", "birth_date": "1985-03-15", "sex": "F"}, ["possible", "possible"]),
        ({"name": "王秀英", "birth_date": "1986-03-14", "sex": "F"}, ["possible", "possible"]),
        ({"name": "王秀英", "birth_date": "1985-03-14", "sex": "M"}, []),
        ({"name": "王秀英", "birth_date": "1990-07-01", "sex": "F"}, []),
        ({"name": "李娜", "birth_date": "1985-03-14", "sex": "F"}, []),
        (
            {"id_number": id_number("110105", date(1985, 3, 14), seq=6), "name": "王秀英",
             "birth_date": "1985-03-14", "sex": "F"},
            ["possible", "possible"],
        ),
        ({"id_number": NUMBER, "name": "王秀英", "birth_date": "1985-03-14", "sex": "F"},
         ["certain", "certain"]),
    ],
)  # fmt: skip
def test_grades(
    client: TestClient, county_b: MemberKey, query: dict[str, Any], grades: list[str]
) -> None:
    response = ask(client, county_b, **query)
    assert response.status_code == 200, response.text
    assert [m["grade"] for m in response.json()["matches"]] == grades


def test_day_and_month_swapped_is_possible() -> None:
    assert (
        service.grade_candidate(date(1985, 3, 14), date(1985, 3, 14), id_sent=False) == "probable"
    )
    assert service.grade_candidate(date(1985, 3, 4), date(1985, 4, 3), id_sent=False) == "possible"
    assert service.grade_candidate(date(1985, 3, 4), date(1987, 4, 3), id_sent=False) is None


@pytest.mark.usefixtures("registered")
def test_the_answer_carries_only_what_the_caller_needs(client: TestClient, hub: HubContext) -> None:
    stranger = make_member(hub, role="county", region="310101")
    matches = ask(client, stranger, id_number=NUMBER).json()["matches"]
    by_kind = {m["kind"]: m for m in matches}
    assert by_kind["outflow"] == {
        "grade": "certain", "kind": "outflow", "registration_region": "110105",
        "active": True, "certificate_status": "none",
    }  # fmt: skip
    assert by_kind["inflow"]["certificate_status"] == "expired"
    assert by_kind["inflow"]["registration_region"] == "440305"


@pytest.mark.usefixtures("registered")
def test_every_lookup_is_audited_with_its_purpose(
    client: TestClient, hub: HubContext, county_b: MemberKey
) -> None:
    ask(client, county_b, id_number=NUMBER)
    with hub.sessions() as session:
        entry = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "person.lookup")
        ).one()
    assert entry.detail == {
        "purpose": "service equalisation",
        "matches": 2,
        "id_number": "110105********" + NUMBER[-4:],
    }
    assert entry.region == "440305"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id_number": NUMBER}, "purpose"),
        ({"id_number": NUMBER, "purpose": ""}, "purpose"),
        ({"purpose": "x" * 10}, "name"),
        ({"name": "王秀英", "sex": "F", "purpose": "check"}, "birth_date"),
        ({"id_number": "12345", "purpose": "check"}, "id_number"),
        ({"id_number": NUMBER, "purpose": "check", "extra": 1}, "extra"),
    ],
)
def test_bad_lookups_are_refused(
    client: TestClient, county_b: MemberKey, body: dict[str, Any], field: str
) -> None:
    response = client.post(LOOKUP, json=body, headers=county_b.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_who_may_look_up(client: TestClient, hub: HubContext, admin_gd: MemberKey) -> None:
    reporter = make_member(hub, role="department", region="110105", department="police")
    assert ask(client, reporter, id_number=NUMBER).status_code == 403
    assert ask(client, admin_gd, id_number=NUMBER).status_code == 403
    granted = make_member(hub, role="admin", region="440000", person_data_grant=True)
    assert ask(client, granted, id_number=NUMBER).status_code == 200


@pytest.mark.usefixtures("registered")
def test_helpers_for_the_exchange(hub: HubContext) -> None:
    with transaction(hub.sessions) as session:
        assert service.hukou_region_for(session, hub.keyring, NUMBER) == "110105"
        assert service.hukou_region_for(session, hub.keyring, id_number(seq=30)) is None
        assert service.has_active_outflow(session, hub.keyring, NUMBER, "110105")
        assert not service.has_active_outflow(session, hub.keyring, NUMBER, "440305")
        assert not service.has_active_outflow(session, hub.keyring, id_number(seq=30), "110105")

"""The two-way assessment on a hand-built month (September 2026, evaluated in November)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.reports import pairs as reports
from tests.fixtures.hub import MemberKey, make_member
from tests.metrics.factories import at, make_message
from tests.scorecard.factories import make_records

NANSHAN, BAOAN, TIANHE, CHAOYANG = "440305", "440306", "440106", "110105"
SEPT = "2026-09"


def _records(hub: HubContext) -> None:
    day = at("2026-09-10 10:00")
    specs = (
        # Nanshan inflows: 4 adults (3 checked) + 1 minor; a duplicate that must not count.
        [dict(kind="inflow", county=NANSHAN, created_at=day, certificate_checked=True)] * 3
        + [dict(kind="inflow", county=NANSHAN, created_at=day, certificate_checked=False)]
        + [dict(kind="inflow", county=NANSHAN, created_at=day, birth_date=date(2010, 1, 1),
                certificate_checked=False)]
        + [dict(kind="inflow", county=NANSHAN, created_at=day, certificate_checked=True,
                deregister_reason="duplicate")]
        # Nanshan outflows: 2 adults, one with a certificate.
        + [dict(kind="outflow", county=NANSHAN, created_at=day, certificate_number="GD2026-1"),
           dict(kind="outflow", county=NANSHAN, created_at=day)]
        # An inflow of August does not belong to September.
        + [dict(kind="inflow", county=NANSHAN, created_at=at("2026-08-31 23:59"),
                certificate_checked=True)]
        + [dict(kind="inflow", county=BAOAN, created_at=day, certificate_checked=True)]
    )  # fmt: skip
    with transaction(hub.sessions) as session:
        make_records(session, hub.keyring, specs)


def _messages(hub: HubContext) -> None:
    sent = at("2026-09-05 09:00")
    deadline = at("2026-10-08 23:59")
    with transaction(hub.sessions) as session:
        # Queries to Nanshan: 2 answered in time (one 查无此人), 1 late, 1 never answered.
        make_message(
            session,
            to_region=NANSHAN,
            submitted_at=sent,
            deadline=deadline,
            answered_at=at("2026-09-20 10:00"),
        )
        make_message(
            session,
            to_region=NANSHAN,
            submitted_at=sent,
            deadline=deadline,
            answered_at=at("2026-09-21 10:00"),
            feedback_result="not_found",
        )
        make_message(
            session,
            to_region=NANSHAN,
            submitted_at=sent,
            deadline=deadline,
            answered_at=at("2026-10-09 10:00"),
        )
        make_message(session, to_region=NANSHAN, submitted_at=sent, deadline=deadline)
        # Notifications to Nanshan: one received, one not.
        make_message(
            session,
            to_region=NANSHAN,
            kind="notification",
            subtype="other",
            submitted_at=sent,
            deadline=deadline,
            received_at=at("2026-09-06 09:00"),
        )
        make_message(
            session,
            to_region=NANSHAN,
            kind="notification",
            subtype="other",
            submitted_at=sent,
            deadline=deadline,
        )
        # Nanshan asks Chaoyang twice, one answered; and sends 3 birth notifications.
        make_message(
            session,
            from_region=NANSHAN,
            to_region=CHAOYANG,
            submitted_at=sent,
            deadline=deadline,
            answered_at=at("2026-09-08 10:00"),
        )
        make_message(
            session, from_region=NANSHAN, to_region=CHAOYANG, submitted_at=sent, deadline=deadline
        )
        for _ in range(3):
            make_message(
                session,
                from_region=NANSHAN,
                to_region=CHAOYANG,
                kind="notification",
                subtype="birth",
                submitted_at=sent,
                deadline=deadline,
            )


def _reports(hub: HubContext, client: TestClient) -> None:
    with transaction(hub.sessions) as session:
        reports.activate_pairs(
            session, region="440300", departments=["police", "health"], active_from=date(2026, 1, 1)
        )
    police = make_member(hub, role="department", region=NANSHAN, department="police")
    health = make_member(hub, role="department", region=NANSHAN, department="health")
    bodies = [
        (police, {"department": "police", "region": NANSHAN, "period": SEPT,
                  "counts": {"temporary_residence_registrations": 10, "moved_out": 4}}),
        (health, {"department": "health", "region": NANSHAN, "period": SEPT,
                  "counts": {"births_to_non_resident_mothers": 6}}),
    ]  # fmt: skip
    for member, body in bodies:
        response = client.post("/api/v1/reports", json=body, headers=member.headers)
        assert response.status_code in (200, 201), response.text


@pytest.fixture
def month(hub: HubContext, client: TestClient) -> None:
    _records(hub)
    _messages(hub)
    _reports(hub, client)


def _card(client: TestClient, member: MemberKey, **params: str) -> dict:
    response = client.get(
        "/api/v1/scorecard", params={"period": SEPT, **params}, headers=member.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def _indicators(row: dict) -> dict[str, dict]:
    return {i["key"]: i for i in row["indicators"]}


EXPECTED_NANSHAN = {
    "certificate_check_rate": (3, 4),
    "inflow_registration_rate": (5, 10),
    "information_submission_rate": (3, 6),
    "requester_feedback_rate": (1, 2),
    "query_feedback_rate": (3, 4),
    "not_found_rate": (1, 3),
    "timely_feedback_rate": (2, 4),
    "certificate_issue_rate": (1, 2),
    "outflow_registration_rate": (2, 4),
    "receipt_rate": (1, 2),
    "department_reporting_rate": (2, 2),
    "department_on_time_rate": (0, 2),  # submitted in November: late
}


@pytest.mark.usefixtures("month")
def test_each_indicator_of_a_county(client: TestClient, admin_gd: MemberKey) -> None:
    card = _card(client, admin_gd, region=NANSHAN)
    found = _indicators(card["total"])
    for key, (numerator, denominator) in EXPECTED_NANSHAN.items():
        item = found[key]
        assert (item["numerator"], item["denominator"]) == (numerator, denominator), key
        assert item["rate"] == pytest.approx(numerator / denominator), key
        assert item["status"] == "ok"
    assert found["certificate_check_rate"]["met"] is False  # 75% < 98%
    assert found["not_found_rate"]["met"] is False  # 33% > 5%
    assert found["department_reporting_rate"]["met"] is True
    assert found["inflow_registration_rate"]["report"] == "police.temporary_residence_registrations"


@pytest.mark.usefixtures("month")
def test_a_missing_report_shows_no_report_not_zero(client: TestClient, admin_gd: MemberKey) -> None:
    baoan = _indicators(_card(client, admin_gd, region=BAOAN)["total"])
    for key in (
        "inflow_registration_rate",
        "outflow_registration_rate",
        "information_submission_rate",
    ):
        assert baoan[key]["status"] == "no_report", key
        assert baoan[key]["rate"] is None and baoan[key]["met"] is None
    assert baoan["certificate_check_rate"]["status"] == "ok"  # 1/1 from its own records
    tianhe = _indicators(_card(client, admin_gd, region=TIANHE)["total"])
    assert tianhe["certificate_check_rate"]["status"] == "no_data"
    assert tianhe["certificate_check_rate"]["rate"] is None


@pytest.mark.usefixtures("month")
def test_roll_up_sums_numerators_and_denominators(client: TestClient, admin_gd: MemberKey) -> None:
    card = _card(client, admin_gd, region="440000", level="prefecture")
    rows = {row["region"]: _indicators(row) for row in card["rows"]}
    shenzhen = rows["440300"]
    # 3 checked of 4 adults in Nanshan + 1 of 1 in Bao'an: 4/5, not the mean of 75% and 100%.
    assert (
        shenzhen["certificate_check_rate"]["numerator"],
        shenzhen["certificate_check_rate"]["denominator"],
    ) == (4, 5)
    # Only Nanshan reported to the police: Bao'an's inflow is left out, and the gap is counted.
    registration = shenzhen["inflow_registration_rate"]
    assert (registration["numerator"], registration["denominator"]) == (5, 10)
    assert registration["months_without_report"] >= 1
    total = _indicators(card["total"])
    assert (
        total["certificate_check_rate"]["numerator"],
        total["certificate_check_rate"]["denominator"],
    ) == (4, 5)
    # Reports: every Shenzhen county owes two a month, only Nanshan's two came in.
    reporting = total["department_reporting_rate"]
    assert reporting["numerator"] == 2
    assert reporting["denominator"] == sum(
        r["department_reporting_rate"]["denominator"] for r in rows.values()
    )
    assert reporting["denominator"] == shenzhen["department_reporting_rate"]["denominator"] > 2


@pytest.mark.usefixtures("month")
def test_scores_weigh_destination_more(client: TestClient, admin_gd: MemberKey) -> None:
    row = _card(client, admin_gd, region=NANSHAN)["total"]
    assert row["destination_score"] is not None and row["origin_score"] is not None
    expected = (0.6 * row["destination_score"] + 0.4 * row["origin_score"]) / 1.0
    assert row["overall_score"] == pytest.approx(expected)
    assert row["overall_met"] is (row["overall_score"] * 100 >= 85.0)


@pytest.mark.usefixtures("month")
def test_a_province_changes_its_own_targets_only(
    client: TestClient, hub: HubContext, admin_gd: MemberKey, admin_nation: MemberKey
) -> None:
    change = {"province": "440000", "key": "certificate_check_rate", "target": 70}
    assert (
        client.put("/api/v1/scorecard/settings", json=change, headers=admin_gd.headers).status_code
        == 200
    )
    nanshan = _indicators(_card(client, admin_gd, region=NANSHAN)["total"])
    assert (
        nanshan["certificate_check_rate"]["target"] == 70
        and nanshan["certificate_check_rate"]["met"] is True
    )
    chaoyang = _indicators(_card(client, admin_nation, region=CHAOYANG)["total"])
    assert chaoyang["certificate_check_rate"]["target"] == 98
    listed = client.get("/api/v1/scorecard/settings?province=44", headers=admin_gd.headers).json()
    assert listed["items"][0]["changed_by"].startswith("admin:440000")
    audit = client.get(
        "/api/v1/audit?action=scorecard.setting", headers=admin_nation.headers
    ).json()
    assert audit["items"][0]["detail"]["after"]["target"] == 70


def test_settings_are_validated_and_scoped(client: TestClient, admin_gd: MemberKey) -> None:
    cases = [
        ({"province": "110000", "key": "certificate_check_rate", "target": 90}, 403, "province"),
        ({"province": "440300", "key": "certificate_check_rate", "target": 90}, 422, "province"),
        ({"province": "440000", "key": "made_up", "target": 90}, 422, "key"),
        ({"province": "440000", "key": "role.origin", "target": 90}, 422, "target"),
        ({"province": "440000", "key": "overall", "weight": 2}, 422, "weight"),
        ({"province": "440000", "key": "certificate_check_rate"}, 422, "target"),
        ({"province": "440000", "key": "certificate_check_rate", "target": 101}, 422, "target"),
    ]
    for body, status, field in cases:
        response = client.put("/api/v1/scorecard/settings", json=body, headers=admin_gd.headers)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field


def test_scope_refusals(client: TestClient, admin_gd: MemberKey, county_b: MemberKey) -> None:
    assert (
        client.get(
            "/api/v1/scorecard",
            params={"region": "110000", "period": SEPT},
            headers=admin_gd.headers,
        ).status_code
        == 403
    )
    assert (
        client.get(
            "/api/v1/scorecard",
            params={"region": CHAOYANG, "period": SEPT},
            headers=county_b.headers,
        ).status_code
        == 403
    )
    own = client.get(
        "/api/v1/scorecard", params={"region": NANSHAN, "period": SEPT}, headers=county_b.headers
    )
    assert own.status_code == 200
    bad = client.get(
        "/api/v1/scorecard",
        params={"region": NANSHAN, "period": "2026-13"},
        headers=admin_gd.headers,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "period"


@pytest.mark.usefixtures("month")
def test_items_behind_an_indicator(client: TestClient, admin_gd: MemberKey) -> None:
    def items(indicator: str, part: str) -> list[dict]:
        response = client.get(
            "/api/v1/scorecard/items",
            params={"region": NANSHAN, "period": SEPT, "indicator": indicator, "part": part},
            headers=admin_gd.headers,
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    assert len(items("certificate_check_rate", "numerator")) == 3
    assert len(items("certificate_check_rate", "denominator")) == 4
    assert len(items("query_feedback_rate", "denominator")) == 4
    assert [i["detail"]["feedback_result"] for i in items("not_found_rate", "numerator")] == [
        "not_found"
    ]
    assert len(items("information_submission_rate", "numerator")) == 3
    assert all(
        "name" not in i["detail"] and "id_number" not in i["detail"]
        for i in items("certificate_check_rate", "denominator")
    )
    refused = client.get(
        "/api/v1/scorecard/items",
        params={
            "region": NANSHAN,
            "period": SEPT,
            "indicator": "inflow_registration_rate",
            "part": "denominator",
        },
        headers=admin_gd.headers,
    )
    assert refused.status_code == 422 and refused.json()["field"] == "part"


@pytest.mark.usefixtures("month")
def test_the_bulletin_carries_the_scorecard_sheet(client: TestClient, admin_gd: MemberKey) -> None:
    import io

    import openpyxl

    params = {"region": "440300", "period": SEPT, "level": "county"}
    card = client.get("/api/v1/scorecard", params=params, headers=admin_gd.headers).json()
    xlsx = client.get(
        "/api/v1/bulletin", params={**params, "format": "xlsx"}, headers=admin_gd.headers
    )
    assert xlsx.status_code == 200, xlsx.text
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["双向考核"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    by_region = {row[header.index("地区代码")]: dict(zip(header, row, strict=True)) for row in rows}
    nanshan = next(r for r in card["rows"] if r["region"] == NANSHAN)
    assert by_region[NANSHAN]["综合得分(%)"] == round(nanshan["overall_score"] * 100, 1)
    indicators = _indicators(nanshan)
    assert by_region[NANSHAN]["婚育证明查验率"] == pytest.approx(0.75)
    assert by_region[NANSHAN]["流入人口建档率"] == pytest.approx(
        indicators["inflow_registration_rate"]["rate"]
    )
    assert by_region[BAOAN]["流入人口建档率"] == "无月报"
    csv = client.get(
        "/api/v1/bulletin", params={**params, "format": "csv"}, headers=admin_gd.headers
    )
    text = csv.content.decode("utf-8-sig")
    assert "双向考核" in text and "无月报" in text and "部门信息报送" in text

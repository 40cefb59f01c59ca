"""Reporting figures (SPEC §5, DHIS2 semantics) on a hand-built month, and their roll-up.

Henan (41), October 2026; deadline Tuesday 2026-11-03 end of day (Beijing time).

    郑州 410100
      中原区 410102  police, health, civil_affairs active all year:
                     police on time, health late, civil_affairs missing
                     → 3 expected, 2 received, 1 on time
      二七区 410103  police active all year: zero report on time
                     → 1 expected, 1 received, 1 on time, 1 zero
    洛阳 410300
      老城区 410302  police active all year: late;
                     health activated 2026-10-15 (mid-month): not expected, reports on time
                     → 1 expected, 2 received, 1 on time, 1 unexpected
    开封 410200      nothing active → 0 expected: rates null

    郑州  4 expected, 3 received, 2 on time → 3/4 = 75 %,  2/4 = 50 %
    洛阳  1 expected, 2 received, 1 on time → 2/1 = 200 % (not capped; one inconsistency), 1/1
    河南  5 expected, 5 received, 3 on time → 5/5 = 100 %, 3/5 = 60 % (sums, never averages:
          the mean of 75 % and 200 % would be 137.5 %)
"""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.reports import service
from exchange_hub.reports.rates import (
    HEALTH_BIRTHS_TO_NON_RESIDENT_MOTHERS,
    POLICE_MOVED_OUT,
    POLICE_TEMPORARY_RESIDENCE_REGISTRATIONS,
    ReportRateRow,
    reported_item_counts,
)
from tests.fixtures.hub import MemberKey, make_member
from tests.reports.conftest import activate, shanghai, submit

AS_OF = shanghai(2026, 11, 20, 12)
ON_TIME = shanghai(2026, 11, 2, 9)
LATE = shanghai(2026, 11, 6, 9)
JAN_1 = date(2026, 1, 1)


@pytest.fixture
def henan_october(hub: HubContext) -> None:
    activate(hub, "410102", "police", "health", "civil_affairs", start=JAN_1)
    activate(hub, "410103", "police", start=JAN_1)
    activate(hub, "410302", "police", start=JAN_1)
    activate(hub, "410302", "health", start=date(2026, 10, 15))
    month = {"period": "2026-10"}
    submit(
        hub,
        region="410102",
        department="police",
        at=ON_TIME,
        counts={"temporary_residence_registrations": 40, "moved_out": 3},
        **month,
    )
    submit(
        hub,
        region="410102",
        department="health",
        at=LATE,
        counts={"births_to_non_resident_mothers": 5},
        **month,
    )
    submit(hub, region="410103", department="police", at=ON_TIME, zero=True, **month)
    submit(
        hub,
        region="410302",
        department="police",
        at=LATE,
        counts={"temporary_residence_registrations": 9},
        **month,
    )
    submit(hub, region="410302", department="health", at=ON_TIME,
           counts={"births_to_non_resident_mothers": 2}, **month)  # fmt: skip


def _counts(row: ReportRateRow) -> tuple[int, int, int, int, int]:
    return (row.expected, row.received, row.on_time, row.zero, row.unexpected)


def _rates(hub: HubContext, region: str, level: str) -> dict[str, ReportRateRow]:
    with hub.sessions() as session:
        rows = service.report_rates(
            session, region=region, period="2026-10", level=level, as_of=AS_OF
        )
    return {row.region: row for row in rows}


@pytest.mark.usefixtures("henan_october")
def test_county_figures(hub: HubContext) -> None:
    rows = _rates(hub, "410000", "county")
    assert _counts(rows["410102"]) == (3, 2, 1, 0, 0)
    assert _counts(rows["410103"]) == (1, 1, 1, 1, 0)
    assert _counts(rows["410302"]) == (1, 2, 1, 0, 1)
    assert _counts(rows["410104"]) == (0, 0, 0, 0, 0)  # a county with no pair at all
    assert rows["410104"].reporting_rate.value is None


@pytest.mark.usefixtures("henan_october")
def test_roll_up_sums_counts(hub: HubContext) -> None:
    rows = _rates(hub, "410000", "prefecture")
    zhengzhou, luoyang, kaifeng = rows["410100"], rows["410300"], rows["410200"]
    assert _counts(zhengzhou) == (4, 3, 2, 1, 0)
    assert (zhengzhou.reporting_rate.value, zhengzhou.on_time_rate.value) == (0.75, 0.5)
    assert _counts(luoyang) == (1, 2, 1, 0, 1)
    assert luoyang.reporting_rate.value == 2.0  # not capped at 100 %
    assert (kaifeng.expected, kaifeng.reporting_rate.value, kaifeng.on_time_rate.value) == (
        0, None, None,
    )  # fmt: skip
    province = _rates(hub, "410000", "province")["410000"]
    assert _counts(province) == (5, 5, 3, 1, 1)
    assert (province.reporting_rate.numerator, province.reporting_rate.denominator) == (5, 5)
    assert province.on_time_rate.value == 0.6
    nation = _rates(hub, "000000", "nation")["000000"]
    assert _counts(nation) == (5, 5, 3, 1, 1)


@pytest.mark.usefixtures("henan_october")
def test_as_of_counts_only_what_had_arrived(hub: HubContext) -> None:
    with hub.sessions() as session:
        rows = service.report_rates(
            session, region="410100", period="2026-10", level="prefecture",
            as_of=shanghai(2026, 11, 4, 0),
        )  # fmt: skip
    assert _counts(rows[0]) == (4, 2, 2, 1, 0)


def test_pair_activated_mid_month_is_expected_from_the_next_month(hub: HubContext) -> None:
    activate(hub, "410302", "health", start=date(2026, 10, 15))
    activate(hub, "410303", "police", start=JAN_1, until=date(2026, 10, 30))
    activate(hub, "410304", "police", start=JAN_1, until=date(2026, 10, 31))
    october = _rates(hub, "410300", "county")
    assert october["410302"].expected == 0
    assert october["410303"].expected == 0  # deactivated before the month ended
    assert october["410304"].expected == 1
    with hub.sessions() as session:
        november = service.report_rates(
            session, region="410302", period="2026-11", level="county", as_of=AS_OF
        )
        # November's report is owed, but not due before 2026-12-03: not yet expected.
        assert (november[0].expected, november[0].not_yet_due) == (0, 1)
        november = service.report_rates(
            session, region="410302", period="2026-11", level="county",
            as_of=shanghai(2026, 12, 4, 0),
        )  # fmt: skip
    assert (november[0].expected, november[0].not_yet_due) == (1, 0)


def test_zero_report_counts_as_received(hub: HubContext) -> None:
    activate(hub, "110105", "police", start=JAN_1)
    submit(hub, region="110105", department="police", period="2026-10", at=ON_TIME, zero=True)
    row = _rates(hub, "110105", "county")["110105"]
    assert _counts(row) == (1, 1, 1, 1, 0)
    assert row.reporting_rate.value == row.on_time_rate.value == 1.0


def test_quarter_sums_its_months(hub: HubContext) -> None:
    activate(hub, "110105", "police", start=JAN_1)
    submit(hub, region="110105", department="police", period="2026-10", at=ON_TIME, zero=True)
    with hub.sessions() as session:
        rows = service.report_rates(
            session, region="110105", period="2026-Q4", level="county", as_of=AS_OF
        )
        # On 20 November only October is due: November (due 3 December) and December
        # are owed but not missing yet.
        assert _counts(rows[0]) == (1, 1, 1, 1, 0) and rows[0].not_yet_due == 2
        rows = service.report_rates(
            session, region="110105", period="2026-Q4", level="county",
            as_of=shanghai(2027, 1, 20, 12),
        )  # fmt: skip
    assert _counts(rows[0]) == (3, 1, 1, 1, 0) and rows[0].not_yet_due == 0


@pytest.mark.usefixtures("henan_october")
def test_rates_endpoint(client: TestClient, hub: HubContext, admin_gd: MemberKey) -> None:
    admin_henan = make_member(hub, role="admin", region="410000")
    params = {"region": "41", "period": "2026-10", "level": "prefecture",
              "as_of": AS_OF.isoformat()}  # fmt: skip
    response = client.get("/api/v1/reports/rates", params=params, headers=admin_henan.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"]["reporting_rate"] == {"numerator": 5, "denominator": 5, "rate": 1.0}
    assert body["total"]["on_time_rate"] == {"numerator": 3, "denominator": 5, "rate": 0.6}
    kaifeng = next(item for item in body["items"] if item["region"] == "410200")
    assert kaifeng["reporting_rate"] == {"numerator": 0, "denominator": 0, "rate": None}
    assert body["inconsistencies"] == [
        {"region": "410302", "department": "health", "period": "2026-10",
         "reason": "report received but none was expected"},
    ]  # fmt: skip
    by_department = {
        row["department"]: (row["expected"], row["received"], row["on_time"], row["zero"],
                            row["unexpected"])
        for row in body["departments"]
    }  # fmt: skip
    assert by_department == {
        "police": (3, 3, 2, 1, 0),
        "civil_affairs": (1, 0, 0, 0, 0),
        "health": (1, 2, 1, 0, 1),
    }
    refused = client.get("/api/v1/reports/rates", params=params, headers=admin_gd.headers)
    assert refused.status_code == 403 and refused.json()["field"] == "region"
    bad = client.get(
        "/api/v1/reports/rates", params={**params, "level": "village"},
        headers=admin_henan.headers,
    )  # fmt: skip
    assert bad.status_code == 422 and bad.json()["field"] == "level"
    above = client.get(
        "/api/v1/reports/rates", params={**params, "region": "410100", "level": "province"},
        headers=admin_henan.headers,
    )  # fmt: skip
    assert above.status_code == 422 and above.json()["field"] == "level"


def test_rates_refused_to_non_admins_and_other_provinces(
    client: TestClient, admin_gd: MemberKey, county_a: MemberKey
) -> None:
    params = {"region": "11", "period": "2026-10", "level": "county"}
    assert (
        client.get("/api/v1/reports/rates", params=params, headers=admin_gd.headers).status_code
        == 403
    )
    assert (
        client.get("/api/v1/reports/rates", params=params, headers=county_a.headers).status_code
        == 403
    )
    unknown = client.get(
        "/api/v1/reports/rates", params={**params, "region": "999999"}, headers=admin_gd.headers
    )
    assert unknown.status_code in (403, 404)


@pytest.mark.usefixtures("henan_october")
def test_missing_reports_sorted_by_how_late(client: TestClient, hub: HubContext) -> None:
    admin_henan = make_member(hub, role="admin", region="410000")
    params = {"region": "41", "as_of": AS_OF.isoformat()}
    response = client.get("/api/v1/reports/missing", params=params, headers=admin_henan.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    # January–September 2026 are expected and missing for the 5 all-year pairs (active
    # since 2026-01-01); October misses only 410102 civil_affairs; the oldest comes first.
    assert len(items) == 9 * 5 + 1
    assert items[0]["period"] == "2026-01" and items[0]["days_late"] == 289
    october = [(i["region"], i["department"]) for i in items if i["period"] == "2026-10"]
    assert october == [("410102", "civil_affairs")]
    assert [i["days_late"] for i in items] == sorted((i["days_late"] for i in items), reverse=True)
    one_month = client.get(
        "/api/v1/reports/missing", params={**params, "period": "2026-10"},
        headers=admin_henan.headers,
    ).json()["items"]  # fmt: skip
    assert one_month == [
        {"region": "410102", "name": "中原区", "department": "civil_affairs", "period": "2026-10",
         "deadline": "2026-11-03T15:59:59.999999Z", "overdue": True, "days_late": 16},
    ]  # fmt: skip


def test_missing_before_the_deadline_is_not_overdue(hub: HubContext) -> None:
    activate(hub, "110105", "police", start=JAN_1)
    with hub.sessions() as session:
        missing = service.missing_for(
            session, make_caller_admin("110000"), region="110105", period="2026-10",
            as_of=shanghai(2026, 11, 3, 12),
        )  # fmt: skip
    assert [(m.department, m.overdue, m.days_late) for m in missing] == [("police", False, 0)]


def make_caller_admin(region: str) -> service.Caller:
    return service.Caller(member_id=None, name="admin", role="admin", region=region)


@pytest.mark.usefixtures("henan_october")
def test_reported_items_for_the_scorecard(hub: HubContext) -> None:
    submit(hub, region="410302", department="police", period="2026-10", at=AS_OF,
           counts={"temporary_residence_registrations": 11})  # fmt: skip
    with hub.sessions() as session:
        residence = reported_item_counts(
            session, item=POLICE_TEMPORARY_RESIDENCE_REGISTRATIONS, region="41",
            period="2026-10", as_of=AS_OF,
        )  # fmt: skip
        moved_out = reported_item_counts(
            session, item=POLICE_MOVED_OUT, region="41", period="2026-10", as_of=AS_OF
        )
        births = reported_item_counts(
            session, item=HEALTH_BIRTHS_TO_NON_RESIDENT_MOTHERS, region="41", period="2026-10",
            as_of=AS_OF,
        )  # fmt: skip
    # 410302 police was corrected at AS_OF: the correction counts (11, not 9)
    assert {c: r.count for c, r in residence.items()} == {"410102": 40, "410103": 0, "410302": 11}
    assert {c: r.count for c, r in moved_out.items()} == {"410102": 3, "410103": 0, "410302": 0}
    assert {c: r.count for c, r in births.items()} == {"410102": 5, "410302": 2}
    assert "410104" not in residence  # no report, which is not the same as 0


def test_zero_flag_is_that_of_the_version_current_at_the_evaluation_time(hub: HubContext) -> None:
    activate(hub, "110105", "police", start=JAN_1)
    submit(hub, region="110105", department="police", period="2026-10", at=ON_TIME, zero=True)
    submit(hub, region="110105", department="police", period="2026-10",
           at=shanghai(2026, 11, 10), counts={"moved_in": 2})  # fmt: skip
    with hub.sessions() as session:
        before, after = (
            service.report_rates(
                session, region="110105", period="2026-10", level="county", as_of=moment
            )[0]
            for moment in (shanghai(2026, 11, 5), AS_OF)
        )
    assert _counts(before) == (1, 1, 1, 1, 0)
    assert _counts(after) == (1, 1, 1, 0, 0)  # corrected to counts; still on time


@pytest.mark.usefixtures("henan_october")
def test_bulletin_columns_name_row_attributes(hub: HubContext) -> None:
    row = _rates(hub, "410000", "prefecture")["410100"]
    values = {key: getattr(row, key) for key, _header in service.REPORT_RATE_COLUMNS}
    assert values["name"] == "郑州市" and values["expected"] == 4
    assert (values["on_time_rate"].numerator, values["on_time_rate"].denominator) == (2, 4)


def test_missing_refused_outside_scope_and_bad_input_named(
    client: TestClient, admin_gd: MemberKey, county_a: MemberKey
) -> None:
    url = "/api/v1/reports/missing"
    outside = client.get(
        url, params={"region": "41", "period": "2026-10"}, headers=admin_gd.headers
    )
    assert outside.status_code == 403 and outside.json()["field"] == "region"
    county = client.get(
        url, params={"region": "110105", "period": "2026-10"}, headers=county_a.headers
    )
    assert county.status_code == 403
    for params, field in (
        ({"region": "abc", "period": "2026-10"}, "region"),
        ({"region": "44", "period": "2026-1"}, "period"),
        ({"region": "44", "period": "2026-10", "as_of": "yesterday"}, "as_of"),
    ):
        response = client.get(url, params=params, headers=admin_gd.headers)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field


def test_reactivation_the_next_day_keeps_the_month_expected(hub: HubContext) -> None:
    activate(hub, "110105", "police", start=JAN_1, until=date(2026, 10, 15))
    activate(hub, "110105", "police", start=date(2026, 10, 16))
    assert _rates(hub, "110105", "county")["110105"].expected == 1
    activate(hub, "110108", "police", start=JAN_1, until=date(2026, 10, 15))
    activate(hub, "110108", "police", start=date(2026, 10, 17))  # one day without: not whole
    assert _rates(hub, "110108", "county")["110108"].expected == 0

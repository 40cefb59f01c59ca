"""Every console page: figures with numerators and denominators, scope, masking, downloads."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from exchange_hub.context import HubContext
from exchange_hub.web.pages.common import last_month
from tests.web import factories
from tests.web.helpers import audit_rows, sign_in

ADMIN_PAGES = ("/console/overview", "/console/drilldown", "/console/latency", "/console/bulletin",
               "/console/reports", "/console/audit")  # fmt: skip


@pytest.fixture
def month_of_traffic(hub: HubContext, console_day: datetime) -> dict[str, object]:
    """Last month: Nanshan (Shenzhen) answered its query, Tianhe (Guangzhou) left one overdue."""
    at = factories.last_month_moment()
    answered = factories.send_query(hub, to="440305", at=at, seq="101")
    factories.answer_query(hub, answered, by="440305", at=at + timedelta(days=2))
    overdue = factories.send_query(hub, to="440106", at=at, seq="102")
    return {"answered": answered, "overdue": overdue, "period": last_month()}


def _chart(page: str, element_id: str) -> dict:
    found = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S
    )
    assert found, f"no chart data {element_id}"
    return json.loads(found.group(1))


def test_overview_shows_rates_with_numerators_and_the_worst_region(
    client: TestClient, gd_admin: str, month_of_traffic: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/overview")
    assert page.status_code == 200
    text = page.text
    assert "广东省" in text and month_of_traffic["period"] in text
    # Province: 1 answered of 2 due = 50.0%; the rate carries its fraction.
    assert "50.0%" in text and "1 / 2" in text
    ranked = text.split('id="ranked"')[1]
    assert ranked.index("深圳市") < ranked.index("广州市")
    worst_rows = re.findall(r'<tr class="worst"[^>]*>(.*?)</tr>', ranked, re.S)
    assert len(worst_rows) == 1 and "广州市" in worst_rows[0]
    trend = _chart(text, "trend-data")
    assert len(trend["data"][0]["x"]) == 12
    assert trend["data"][0]["x"][-1] == month_of_traffic["period"]
    assert trend["data"][0]["y"][-1] == 50.0
    assert trend["data"][0]["y"][0] is None  # no denominator: a gap, not 0%


def test_zero_denominators_show_a_dash(client: TestClient, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    text = client.get("/console/overview").text
    assert "—" in text and "0.0%" not in text


def test_overview_of_a_region_outside_the_scope_is_refused_and_audited(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    sign_in(client, gd_admin)
    for path in ADMIN_PAGES[:-1]:
        response = client.get(f"{path}?region=110000")
        assert response.status_code == 403, path
        assert "超出您的权限范围" in response.text
    assert len(audit_rows(hub, "scope.refused")) == len(ADMIN_PAGES) - 1


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_a_clerk_sees_no_admin_page(client: TestClient, nanshan_clerk: str, path: str) -> None:
    sign_in(client, nanshan_clerk)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [("period=2026-13", "period"), ("period=last", "period"), ("region=4x", "region"),
     ("region=990000", "region"), ("period=" + "9" * 9, "period")],
)  # fmt: skip
def test_bad_inputs_are_pages_naming_the_field(
    client: TestClient, gd_admin: str, query: str, field: str
) -> None:
    sign_in(client, gd_admin)
    for path in ADMIN_PAGES[:-1]:
        response = client.get(f"{path}?{query}")
        assert response.status_code in (404, 422), (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html")
        assert field in response.text


def test_drill_down_from_province_to_prefecture_to_county(
    client: TestClient, gd_admin: str, month_of_traffic: dict
) -> None:
    sign_in(client, gd_admin)
    province = client.get("/console/drilldown").text
    assert 'href="/console/drilldown?region=440100&amp;period=' in province
    prefecture = client.get("/console/drilldown?region=440100").text
    assert "天河区" in prefecture and "广东省" in prefecture  # breadcrumbs
    county = client.get("/console/drilldown?region=440106").text
    assert "超期及未反馈的查询" in county
    table = county.split('id="open-queries"')[1]
    assert "已超期" in table
    assert "440106********" in table
    assert factories.id_number("440106", "102") not in county
    assert "王**" in table and "王小明" not in county


def test_person_data_is_shown_only_with_the_grant_and_the_read_is_audited(
    client: TestClient, hub: HubContext, nation_admin: str, month_of_traffic: dict
) -> None:
    sign_in(client, nation_admin)
    county = client.get("/console/drilldown?region=440106").text
    assert factories.id_number("440106", "102") in county
    assert "王小明" in county
    [row] = audit_rows(hub, "console.person_data_read")
    assert row.detail["page"] == "drilldown"
    assert row.detail["ids"] == [str(month_of_traffic["overdue"])]


def test_masked_views_write_no_person_data_read(
    client: TestClient, hub: HubContext, gd_admin: str, month_of_traffic: dict
) -> None:
    sign_in(client, gd_admin)
    client.get("/console/drilldown?region=440106")
    assert audit_rows(hub, "console.person_data_read") == []


def test_latency_page_draws_each_leg(
    client: TestClient, gd_admin: str, month_of_traffic: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/latency")
    assert page.status_code == 200
    chart = _chart(page.text, "latency-queries-data")
    assert [series["name"] for series in chart["data"]] == ["中位数", "90%分位", "99%分位"]
    assert len(chart["data"][0]["x"]) == 3
    slowest = page.text.split('id="slowest"')[1]
    assert "深圳市" in slowest
    sent = client.get("/console/latency?region=110000&role=requester")
    assert sent.status_code == 403  # Guangdong's admin does not see Beijing's side
    assert client.get("/console/latency?role=sideways").status_code == 422
    as_requester = client.get("/console/latency?role=requester")
    assert as_requester.status_code == 200 and 'value="requester" selected' in as_requester.text


def test_bulletin_page_and_its_downloads(
    client: TestClient, hub: HubContext, gd_admin: str, month_of_traffic: dict
) -> None:
    factories.expect_reports(hub, "440305", ["police"])  # a sheet with 无报表 cells
    sign_in(client, gd_admin)
    page = client.get("/console/bulletin")
    assert page.status_code == 200 and "download-xlsx" in page.text
    assert "1/1" in page.text  # Nanshan answered its one due query: the rate shows its fraction
    period = month_of_traffic["period"]
    xlsx = client.get(f"/console/bulletin/download?region=440000&period={period}&format=xlsx")
    assert xlsx.status_code == 200
    assert "attachment" in xlsx.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(xlsx.content))
    assert workbook.sheetnames
    csv = client.get(f"/console/bulletin/download?region=440000&period={period}&format=csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")
    assert client.get("/console/bulletin/download?format=docx").status_code == 422
    assert client.get("/console/bulletin/download?format=csv&region=110000").status_code == 403


def test_reports_page_lists_who_is_late(client: TestClient, hub: HubContext, gd_admin: str) -> None:
    factories.expect_reports(hub, "440305", ["police", "health"])
    sign_in(client, gd_admin)
    page = client.get("/console/reports")
    assert page.status_code == 200
    missing = page.text.split('id="missing-reports"')[1].split("</table>")[0]
    assert "公安" in missing and "卫生健康" in missing and "南山区" in missing
    assert "0 / 2" in page.text  # reporting rate: 0 received of 2 expected
    departments = page.text.split('id="report-departments"')[1].split("</table>")[0]
    assert "公安" in departments and "0/1" in departments


def test_english_pages_translate_labels(client: TestClient, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    client.get("/console/language/en")
    text = client.get("/console/overview").text
    assert "Query-feedback rate" in text and "查询反馈率" not in text

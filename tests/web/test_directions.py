"""Overview and drill-down in both directions (户籍地 / 现居住地), periods, 环比/同比,
compact tables, 无数据 months and the county's open queries of the chosen period.

Every date is computed from the pinned clock (``console_day``), never from today."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.errors import InvalidInput
from exchange_hub.exchange import inbox
from exchange_hub.masking import mask_id_number
from exchange_hub.metrics.schemas import make_rate
from exchange_hub.scope import Caller
from exchange_hub.web.i18n import translator
from exchange_hub.web.pages import common
from exchange_hub.web.pages.common import last_month
from tests.web import factories
from tests.web.helpers import sign_in

ZH, EN = translator("zh"), translator("en")


def _moment_in(period: str, base: datetime) -> datetime:
    """``base`` moved back whole 30/31-day steps until it falls in ``period`` (a month)."""
    moment = base
    while f"{moment.astimezone(common.LOCAL_TIME):%Y-%m}" != period:
        moment -= timedelta(days=30)
        assert moment.year > 2000
    return moment


def _section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</section>", start)]


def _card(section: str, rate: str) -> str:
    start = section.index(f'data-rate="{rate}"')
    return section[start : section.index('<div class="card"', start + 1)]


def _chart(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="trend-data">(.*?)</script>', page, re.S)
    assert found
    return json.loads(found.group(1))


@pytest.fixture
def guangdong_asks(hub: HubContext, console_day: datetime) -> dict[str, object]:
    """Last month Guangdong mostly asked: Nanshan sent Beijing's Chaoyang two queries (one
    answered), Tianhe sent one (unanswered); nothing was sent to Guangdong."""
    at = factories.last_month_moment()
    answered = factories.send_query(hub, to="110105", sender="440305", at=at, seq="201")
    factories.answer_query(hub, answered, by="110105", at=at + timedelta(days=1))
    factories.send_query(hub, to="110105", sender="440305", at=at, seq="202")
    factories.send_query(hub, to="110105", sender="440106", at=at, seq="203")
    return {"period": last_month()}


# -- both directions --------------------------------------------------------------------
def test_a_requester_province_sees_its_outgoing_queries_on_the_overview(
    client: TestClient, gd_admin: str, guangdong_asks: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/overview").text
    asking = _section(page, "direction-requester")
    answering = _section(page, "direction-responder")
    assert "作为现居住地" in asking and "作为户籍地" in answering
    # Sent 3, 1 answered: 1 of 3 due (the unanswered two are past their deadline).
    feedback = _card(asking, "feedback_rate")
    assert "33.3%" in feedback and "1 / 3" in feedback
    assert "共发出查询 3 件" in asking
    assert "—" in _card(answering, "feedback_rate") and "0 / 0" in answering
    # The ranking as requester lists the senders with their n/d.
    ranked = client.get("/console/overview?role=requester").text.split('id="ranked"')[1]
    assert "深圳市" in ranked and "1/2" in ranked and "广州市" in ranked and "0/1" in ranked
    assert "发出查询" in ranked


def test_the_drill_down_follows_the_role(
    client: TestClient, gd_admin: str, guangdong_asks: dict
) -> None:
    sign_in(client, gd_admin)
    as_responder = client.get("/console/drilldown?region=440300").text
    assert "南山区" not in as_responder.split('id="ranked"')[1]  # idle as responder: hidden
    page = client.get("/console/drilldown?region=440300&role=requester").text
    ranked = page.split('id="ranked"')[1]
    assert "南山区" in ranked and "1/2" in ranked
    assert 'value="requester" selected' in page
    assert "role=requester" in ranked  # links down keep the point of view
    county = client.get("/console/drilldown?region=440305&role=requester").text
    assert "1 / 2" in _section(county, "direction-requester")


def test_a_requester_county_lists_the_queries_it_still_waits_for(
    client: TestClient, gd_admin: str, guangdong_asks: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/drilldown?region=440305&role=requester").text
    assert "尚未得到反馈的查询（发出的）" in page and "发往" in page
    table = page.split('id="open-queries"')[1].split("</table>")[0]
    assert table.count("<tr") == 2  # the header and the one unanswered query (202)
    assert mask_id_number(factories.id_number("110105", "202")) in table
    assert mask_id_number(factories.id_number("110105", "201")) not in table  # answered
    assert '<span class="region" title="110105">朝阳区</span>' in table  # a name, not a code
    # As 户籍地 Nanshan received nothing; Chaoyang's list names Nanshan as the sender.
    received = client.get("/console/drilldown?region=440305").text
    assert "超期及未反馈的查询（收到的）" in received
    assert received.split('id="open-queries"')[1].split("</table>")[0].count("<tr") == 2


# -- the county's open queries follow the period ----------------------------------------
@pytest.fixture
def two_months_of_open_queries(hub: HubContext, console_day: datetime) -> dict[str, object]:
    at = factories.last_month_moment()
    earlier = common.previous_period(last_month())
    assert earlier is not None
    factories.send_query(hub, to="440106", at=at, seq="102", name="李四")
    factories.send_query(hub, to="440106", at=_moment_in(earlier, at), seq="103", name="赵六六")
    return {"last": last_month(), "earlier": earlier}


def test_the_county_open_list_follows_the_chosen_month(
    client: TestClient, gd_admin: str, two_months_of_open_queries: dict
) -> None:
    sign_in(client, gd_admin)
    last, earlier = two_months_of_open_queries["last"], two_months_of_open_queries["earlier"]
    masked_last = mask_id_number(factories.id_number("440106", "102"))
    masked_earlier = mask_id_number(factories.id_number("440106", "103"))
    page = client.get(f"/console/drilldown?region=440106&period={last}").text
    table = page.split('id="open-queries"')[1]
    assert masked_last in table and masked_earlier not in table
    assert "李*" in table and "赵**" not in table
    assert "来自</th>" in page and '<span class="region" title="110105">朝阳区</span>' in table
    assert common.period_name(last, ZH) in page.split('id="open-period"')[1][:200]
    page = client.get(f"/console/drilldown?region=440106&period={earlier}").text
    table = page.split('id="open-queries"')[1]
    assert masked_earlier in table and masked_last not in table
    # The quarter or year holding both lists both.
    year = last[:4] if last[:4] == earlier[:4] else None
    if year:
        table = client.get(f"/console/drilldown?region=440106&period={year}").text
        assert masked_last in table and masked_earlier in table


def test_the_inbox_service_filters_open_queries_by_period(
    hub: HubContext, two_months_of_open_queries: dict
) -> None:
    admin = Caller(member_id=uuid.uuid4(), name="gd", role="admin", region="440000")
    with hub.sessions() as session:

        def seqs(period: str | None) -> list[str]:
            found = inbox.open_queries_of(session, admin, "440106", limit=10, period=period)
            return [content["subject"]["id_number"][14:17] for _, content in found if content]

        assert seqs(two_months_of_open_queries["last"]) == ["102"]
        assert seqs(two_months_of_open_queries["earlier"]) == ["103"]
        assert sorted(seqs(None)) == ["102", "103"]
        with pytest.raises(InvalidInput) as refused:
            seqs("2026-13")
        assert refused.value.field == "period"


# -- compact tables ----------------------------------------------------------------------
def test_idle_regions_are_hidden_until_asked_for(
    client: TestClient, gd_admin: str, guangdong_asks: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/overview?role=requester").text
    ranked = page.split('id="ranked"')[1]
    shown = ranked.count("<tr") - 1
    assert shown == 2 and "珠海市" not in ranked
    hidden = int(re.search(r"另有 (\d+) 个地区本期没有查询和通知", page).group(1))  # type: ignore[union-attr]
    toggle = re.search(r'<a href="([^"]+)" id="show-all-regions">显示全部地区</a>', page)
    assert toggle
    link = toggle.group(1).replace("&amp;", "&")
    assert "role=requester" in link and f"period={guangdong_asks['period']}" in link
    everything = client.get(link).text
    ranked_all = everything.split('id="ranked"')[1]
    assert "珠海市" in ranked_all and ranked_all.count("<tr") - 1 == shown + hidden
    assert "隐藏无业务的地区" in everything


# -- periods, 环比 and 同比 -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("period", "previous", "year_ago", "zh", "en"),
    [("2026-11", "2026-10", "2025-11", "2026年11月", "November 2026"),
     ("2026-01", "2025-12", "2025-01", "2026年1月", "January 2026"),
     ("2026-Q1", "2025-Q4", "2025-Q1", "2026年第1季度", "Q1 2026"),
     ("2026-q3", "2026-Q2", "2025-Q3", "2026年第3季度", "Q3 2026"),
     ("2026", "2025", "2025", "2026年", "2026"),
     ("2000-01", None, None, "2000年1月", "January 2000"),
     ("2026-06/2026-11", "2025-12/2026-05", "2025-06/2025-11", "2026年6月至2026年11月",
      "June 2026 – November 2026")],
)  # fmt: skip
def test_period_arithmetic_and_names(
    period: str, previous: str | None, year_ago: str | None, zh: str, en: str
) -> None:
    assert common.previous_period(period) == previous
    assert common.year_before(period) == year_ago
    assert common.period_name(period, ZH) == zh
    assert common.period_name(period, EN) == en


def test_point_changes_need_both_denominators() -> None:
    assert common.point_change(make_rate(1, 2), make_rate(3, 4)) == -25.0
    assert common.point_change(make_rate(2, 3), make_rate(1, 3)) == 33.3
    assert common.point_change(make_rate(1, 2), make_rate(0, 0)) is None
    assert common.point_change(make_rate(0, 0), make_rate(1, 2)) is None
    assert common.point_change(make_rate(1, 2), None) is None
    assert [common.signed_points(v) for v in (-25.0, 33.3, 0.0, None)] == [
        "−25.0", "+33.3", "0.0", "—"
    ]  # fmt: skip


@pytest.fixture
def three_comparable_months(hub: HubContext, console_day: datetime) -> dict[str, str]:
    """Nanshan answered 1 of 2 last month, 3 of 4 the month before, 1 of 1 a year before."""
    at = factories.last_month_moment()
    earlier = common.previous_period(last_month())
    year_ago = common.year_before(last_month())
    assert earlier and year_ago
    plan = [(at, "1", 2, 1), (_moment_in(earlier, at), "2", 4, 3),
            (_moment_in(year_ago, at), "3", 1, 1)]  # fmt: skip
    for moment, prefix, sent, answered in plan:
        for index in range(sent):
            query = factories.send_query(hub, to="440305", at=moment, seq=f"{prefix}{index:02d}")
            if index < answered:
                factories.answer_query(hub, query, by="440305", at=moment + timedelta(days=1))
    return {"last": last_month(), "earlier": earlier, "year_ago": year_ago}


def test_month_on_month_and_year_on_year_in_percentage_points(
    client: TestClient, gd_admin: str, three_comparable_months: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/overview").text
    feedback = _card(_section(page, "direction-responder"), "feedback_rate")
    assert "50.0%" in feedback and "1 / 2" in feedback
    assert "环比 −25.0 个百分点" in feedback  # 50.0% against 75.0%
    assert 'class="delta worse"' in feedback  # a lower feedback rate is worse
    assert "同比 −50.0 个百分点" in feedback  # 50.0% against 100.0%
    assert common.period_name(three_comparable_months["earlier"], ZH) in feedback
    asking = _card(_section(page, "direction-requester"), "feedback_rate")
    assert "环比 —" in asking and "同比 —" in asking  # no denominators on either side
    # The month before, against its own previous month (nothing): "—"; a year before: "—".
    earlier = client.get(f"/console/overview?period={three_comparable_months['earlier']}").text
    feedback = _card(_section(earlier, "direction-responder"), "feedback_rate")
    assert "75.0%" in feedback and "3 / 4" in feedback and "环比 —" in feedback
    client.get("/console/language/en")
    page = client.get("/console/overview").text
    feedback = _card(_section(page, "direction-responder"), "feedback_rate")
    assert "vs previous −25.0 pp" in feedback and "vs a year before −50.0 pp" in feedback


def test_quarters_and_years_are_periods_too(
    client: TestClient, gd_admin: str, three_comparable_months: dict
) -> None:
    sign_in(client, gd_admin)
    last = three_comparable_months["last"]
    quarter = f"{last[:4]}-Q{(int(last[5:]) - 1) // 3 + 1}"
    for period in (quarter, last[:4], f"{three_comparable_months['year_ago']}/{last}"):
        page = client.get(f"/console/overview?period={period}")
        assert page.status_code == 200
        assert common.period_name(period, ZH) in page.text.split("</h1>")[0]
    client.get("/console/language/en")
    page = client.get(f"/console/drilldown?period={quarter}").text
    assert common.period_name(quarter, EN) in page.split("</h1>")[0]
    assert common.period_name(quarter, EN).startswith("Q")


@pytest.mark.parametrize(("query", "field"), [("role=sideways", "role"), ("all=maybe", "all")])
def test_bad_switches_are_pages_naming_the_field(
    client: TestClient, gd_admin: str, query: str, field: str
) -> None:
    sign_in(client, gd_admin)
    for path in ("/console/overview", "/console/drilldown"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/html")
        assert field in response.text


# -- trend: targets and 无数据 -------------------------------------------------------------
def test_months_without_data_say_so_and_targets_are_drawn(
    client: TestClient, gd_admin: str, guangdong_asks: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/overview?role=requester").text
    trend = _chart(page)
    feedback = trend["data"][0]
    assert feedback["x"][-1] == guangdong_asks["period"] and feedback["y"][-1] == 33.3
    assert feedback["y"][:-1] == [None] * 11
    assert [a["x"] for a in trend["layout"]["annotations"]] == feedback["x"][:-1]
    assert {a["text"] for a in trend["layout"]["annotations"]} == {"无数据"}
    assert trend["layout"]["xaxis"]["ticktext"][-1] == common.period_name(feedback["x"][-1], ZH)
    targets = [s for s in trend["data"] if s.get("line", {}).get("dash") == "dot"]
    assert [s["name"] for s in targets] == ["查询反馈率目标 95%"]  # requester_feedback_rate
    assert set(targets[0]["y"]) == {95.0}
    table = page.split('id="trend-table"')[1].split("</table>")[0]
    assert table.count("无数据") == 11
    assert common.period_name(guangdong_asks["period"], ZH) in table and "1/3" in table
    as_responder = _chart(client.get("/console/overview").text)
    names = [s["name"] for s in as_responder["data"] if s.get("line", {}).get("dash") == "dot"]
    assert len(names) == 4 and "查无此人率目标 5%" in names
    assert len(as_responder["layout"]["annotations"]) == 12  # Guangdong received nothing
    client.get("/console/language/en")
    page = client.get("/console/overview").text
    assert page.split('id="trend-table"')[1].split("</table>")[0].count("No data") == 12
    assert "As place of residence" in page and "As place of household registration" in page

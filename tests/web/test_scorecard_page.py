"""The two-way assessment page: indicators against targets, unmet ones highlighted, items behind."""

from __future__ import annotations

import io
import re
import uuid
from datetime import datetime, timedelta

import openpyxl
from fastapi.testclient import TestClient
from markupsafe import escape

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.scope import Caller
from exchange_hub.scorecard import explain
from exchange_hub.scorecard import service as scorecards
from exchange_hub.scorecard.config import default_config
from exchange_hub.scorecard.schemas import RegionScorecard
from exchange_hub.web.pages.common import last_month
from tests.fixtures.hub import MemberKey
from tests.metrics.factories import make_message
from tests.reports.conftest import submit
from tests.scorecard.factories import make_records
from tests.web import factories
from tests.web.helpers import sign_in

ADMIN_GD = Caller(member_id=uuid.uuid4(), name="admin 440000", role="admin", region="440000")


def test_scorecard_marks_unmet_indicators_and_lists_the_items_behind(
    client: TestClient, hub: HubContext, gd_admin: str, console_day: datetime
) -> None:
    at = factories.last_month_moment()
    answered = factories.send_query(hub, to="440305", at=at, seq="401")
    factories.answer_query(hub, answered, by="440305", at=at + timedelta(days=40))  # late
    sign_in(client, gd_admin)
    page = client.get("/console/scorecard")
    assert page.status_code == 200
    assert "双向考核" in page.text
    indicators = page.text.split('id="indicators"')[1].split("</table>")[0]
    assert 'class="worst"' in indicators and "未达标" in indicators
    county = client.get("/console/scorecard?region=440305")
    assert county.status_code == 200
    link = "/console/scorecard/items?region=440305"
    assert link in county.text
    items = client.get(
        f"/console/scorecard/items?region=440305&indicator=query_feedback_rate&part=denominator"
        f"&period={last_month()}"
    )
    assert items.status_code == 200
    assert str(answered) in items.text


def test_scorecard_scope_and_bad_input(client: TestClient, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    assert client.get("/console/scorecard?region=110000").status_code == 403
    assert client.get("/console/scorecard?period=2026-13").status_code == 422
    bad_part = client.get(
        "/console/scorecard/items?region=440305&indicator=query_feedback_rate&part=x"
    )
    assert bad_part.status_code == 422 and "part" in bad_part.text
    province = client.get("/console/scorecard/items?region=440000&indicator=query_feedback_rate")
    assert province.status_code == 422
    assert client.get("/console/scorecard/items?region=110105&indicator=x").status_code == 403


def test_a_clerk_has_no_scorecard(client: TestClient, nanshan_clerk: str) -> None:
    sign_in(client, nanshan_clerk)
    assert client.get("/console/scorecard").status_code == 403


# -- a scorecard you can trust (issue 17, item 7) ------------------------------------
NANSHAN, BAOAN = "440305", "440306"


def _fill_last_month(hub: HubContext) -> None:
    """Nanshan: 20 checked inflows, police 20 registrations, health 44 births but only one
    birth notification sent (2.3%); Bao'an: 4 birth notifications, health reports 0 births."""
    month_moment = factories.last_month_moment()
    reported_at = hub_clock.now().replace(day=2, hour=2, minute=0)  # before the 3rd's deadline
    factories.expect_reports(hub, NANSHAN, ["police", "health"])
    factories.expect_reports(hub, BAOAN, ["health"])
    inflows = [dict(kind="inflow", county=NANSHAN, created_at=month_moment,
                    certificate_checked=True)] * 20  # fmt: skip
    with transaction(hub.sessions) as session:
        make_records(session, hub.keyring, inflows)
        for county, sent in ((NANSHAN, 1), (BAOAN, 4)):
            for _ in range(sent):
                make_message(session, kind="notification", subtype="birth", from_region=county,
                             to_region="110105", submitted_at=month_moment)  # fmt: skip
    reports = (
        (NANSHAN, "police", {"temporary_residence_registrations": 20}),
        (NANSHAN, "health", {"births_to_non_resident_mothers": 44}),
        (BAOAN, "health", {"births_to_non_resident_mothers": 0}),
    )
    for county, department, counts in reports:
        submit(hub, region=county, department=department, period=last_month(),
               at=reported_at, counts=counts)  # fmt: skip


def _section(text: str, marker: str, end: str = "</table>") -> str:
    return text.split(marker, 1)[1].split(end, 1)[0]


def test_the_page_says_why_a_high_average_is_not_met(
    client: TestClient, hub: HubContext, gd_admin: str, console_day: datetime
) -> None:
    _fill_last_month(hub)
    sign_in(client, gd_admin)
    page = client.get(f"/console/scorecard?region={NANSHAN}")
    assert page.status_code == 200
    verdict = _section(page.text, 'id="verdict"', "</p>")
    assert "未达标：" in verdict and "重要信息登录率 2.3% 低于目标 95%" in verdict
    row = _section(page.text, 'id="indicator-information_submission_rate"', "</tr>")
    assert "2.3%" in row and "未达标" in row
    # No outflow indicator has data: the origin has no score ("—"), never 100%.
    cards = _section(page.text, 'class="cards"', "</section>")
    origin = cards.split("流出地得分")[1].split('class="hint"')[0]
    assert "—" in origin and "100.0%" not in origin
    province = client.get("/console/scorecard?region=440300")
    regions = _section(province.text, 'id="scorecard-regions"')
    assert "重要信息登录率 2.3% 低于目标 95%" in regions


def test_a_numerator_over_a_zero_denominator_reads_as_the_footnote_says(
    client: TestClient, hub: HubContext, gd_admin: str, console_day: datetime
) -> None:
    _fill_last_month(hub)
    sign_in(client, gd_admin)
    page = client.get(f"/console/scorecard?region={BAOAN}")
    row = _section(page.text, 'id="indicator-information_submission_rate"', "</tr>")
    assert "数据矛盾" in row and "无数据" not in row
    assert ">4</a></td>" in row and '<td class="num">0</td>' in row  # 4 over 0
    footnote = _section(page.text, 'id="statuses"', "</p>")
    assert "数据矛盾" in footnote and "4/0" in footnote


def test_the_page_shows_weights_the_formula_and_every_definition_in_both_languages(
    client: TestClient, hub: HubContext, gd_admin: str, console_day: datetime
) -> None:
    _fill_last_month(hub)
    sign_in(client, gd_admin)
    for lang, words in (("zh", ("权重", "评分与达标规则", "指标口径")),
                        ("en", ("Weight", "How the score", "Definition"))):  # fmt: skip
        client.get(f"/console/language/{lang}")
        page = client.get(f"/console/scorecard?region={NANSHAN}")
        assert page.status_code == 200
        assert all(word in page.text for word in words), lang
        rules = _section(page.text, 'id="score-rules"', "</details>")
        *scoring, statuses = explain.rules(scorecard_total(hub), lang)
        assert all(str(escape(line)) in rules for line in scoring)
        assert str(escape(statuses)) in _section(page.text, 'id="statuses"', "</p>")
        indicators = _section(page.text, 'id="indicators"')
        definitions_table = _section(page.text, 'id="definitions"')
        for key, definition in explain.definitions(lang).items():
            row = _section(indicators, f'id="indicator-{key}"', "</tr>")
            assert str(escape(definition.formula)) in row, key
            assert str(escape(definition.numerator)) in row, key
            assert str(escape(definition.denominator)) in row, key
            assert str(escape(definition.counts)) in row, key
            assert str(escape(definition.name)) in definitions_table, key
        weights = re.findall(r'<td class="num weight">([^<]*)</td>', indicators)
        assert weights == [f"{i.weight:g}" for i in default_config().indicators]


def scorecard_total(hub: HubContext) -> RegionScorecard:
    """The total card of Nanshan for last month, as the page computes it."""
    with hub.sessions() as session:
        report = scorecards.scorecard_report(
            session, ADMIN_GD, region=NANSHAN, period=last_month(),
            level=None, as_of=None,
        )  # fmt: skip
    return report.total


def test_the_bulletin_sheet_gives_the_same_verdict_and_the_definitions(
    client: TestClient, hub: HubContext, admin_gd: MemberKey, console_day: datetime
) -> None:
    _fill_last_month(hub)
    params = {"region": "440300", "period": last_month(), "level": "county", "format": "xlsx"}
    xlsx = client.get("/api/v1/bulletin", params=params, headers=admin_gd.headers)
    assert xlsx.status_code == 200, xlsx.text
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    header, *rows = list(book["双向考核"].iter_rows(values_only=True))
    by_region = {row[header.index("地区代码")]: dict(zip(header, row, strict=True)) for row in rows}
    nanshan = by_region[NANSHAN]
    assert nanshan["综合达标"] == "未达标"
    assert "重要信息登录率 2.3% 低于目标 95%" in nanshan["结论及原因"]
    assert by_region[BAOAN]["重要信息登录率"] == "数据矛盾 4/0"
    assert by_region[BAOAN]["流出地得分(%)"] == "—"  # no outflow data: no score, not 100
    header, *rows = list(book["双向考核指标口径"].iter_rows(values_only=True))
    formulas = {row[header.index("指标")]: row[header.index("计算公式")] for row in rows}
    for definition in explain.definitions("zh").values():
        assert formulas[definition.name] == definition.formula
    assert any("达标条件" in str(row[header.index("计算公式")]) for row in rows)

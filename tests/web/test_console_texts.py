"""Issue 17: the console speaks to people — names not codes, no field names or developer
words on the page, Chinese periods and units, the audit log newest first with dates and a
CSV export, and the password change on 我的账号."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.models import ConsoleSession, ConsoleUser
from exchange_hub.region_codes import bundled_catalogue
from exchange_hub.regions import service as regions
from exchange_hub.web import auth
from exchange_hub.web.pages.common import last_month
from exchange_hub.web.render import LOCAL_TIME, format_period
from tests.web import factories
from tests.web.helpers import PASSWORD, audit_rows, csrf_from, post_sign_in, sign_in

DEVELOPER_TEXT = (
    r"_rate\b", r"\bkind:", r"\brecord\.", r"\bTrue\b", r"\bFalse\b", r"\bNone\b",
    r"\d (min|h|d)\b", r"\bp(90|99)\b", r"\b(440305|440106|440000|110105)\b(?!\*)",
    r"\b\d{4}-\d{2}\b(?!-)", r"[別區門]",
)  # fmt: skip
"""Field names, Python literals, unit abbreviations, region codes where a name exists,
``YYYY-MM`` periods and traditional characters: none may be visible text."""


class _VisibleText(HTMLParser):
    """The text a person sees: no scripts, styles, attributes, or collapsed technical details."""

    HIDDEN: ClassVar[set[str]] = {"script", "style", "title"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag in self.HIDDEN or "technical" in classes or self._hidden:
            self._hidden.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._hidden and self._hidden[-1] == tag:
            self._hidden.pop()

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def assert_no_developer_text(html: str, where: str) -> None:
    text = visible_text(html)
    for pattern in DEVELOPER_TEXT:
        found = re.search(pattern, text)
        if found is not None:
            around = text[max(0, found.start() - 60) : found.end() + 60]
            pytest.fail(f"{where}: {found.group(0)!r} in …{around}…")


@pytest.fixture
def traffic(hub: HubContext, console_day: datetime) -> dict[str, object]:
    at = factories.last_month_moment()
    answered = factories.send_query(hub, to="440305", at=at, seq="401", sender="110105")
    factories.answer_query(hub, answered, by="440305", at=at + timedelta(days=2))
    factories.send_query(hub, to="440305", seq="402", name=None)
    factories.expect_reports(hub, "440305", ["police"])
    return {"period": last_month()}


def test_the_visible_text_check_can_fail() -> None:
    with pytest.raises(pytest.fail.Exception):
        assert_no_developer_text("<p>certificate_check_rate: True</p>", "sample")
    assert_no_developer_text('<p title="440305">南山区</p><script>"p90"</script>', "sample")


@pytest.mark.parametrize(
    "path",
    ["/console/latency", "/console/reports", "/console/audit", "/console/account",
     "/console/latency?region=440300", "/console/reports?region=440300"],
)  # fmt: skip
def test_admin_pages_show_no_codes_or_field_names(
    client: TestClient, gd_admin: str, traffic: dict, path: str
) -> None:
    sign_in(client, gd_admin)
    client.get("/console/overview")  # something in the audit trail of Guangdong
    page = client.get(path)
    assert page.status_code == 200, page.text
    assert_no_developer_text(page.text, path)


@pytest.mark.parametrize(
    "page_path",
    ["/console/overview", "/console/drilldown", "/console/scorecard", "/console/reports",
     "/console/bulletin", "/console/latency"],
)  # fmt: skip
def test_every_period_page_takes_a_range_of_months(
    client: TestClient, gd_admin: str, traffic: dict, page_path: str
) -> None:
    sign_in(client, gd_admin)
    year, month = (int(part) for part in traffic["period"].split("-"))
    first = f"{year - (month <= 2)}-{(month - 3) % 12 + 1:02d}"
    span = f"{first}/{traffic['period']}"
    page = client.get(page_path, params={"period": span})
    assert page.status_code == 200, page.text
    assert "至" in page.text.split("</h1>")[0]  # 2026年9月至2026年11月 in the heading
    assert_no_developer_text(page.text, f"{page_path}?period={span}")
    backwards = client.get(page_path, params={"period": f"{traffic['period']}/{first}"})
    assert backwards.status_code == 422 and "period" in backwards.text


def test_the_clerks_pages_show_names_not_codes(
    client: TestClient, nanshan_clerk: str, traffic: dict
) -> None:
    sign_in(client, nanshan_clerk)
    for path in ("/console/todo", "/console/account", "/console/audit", "/console/nowhere"):
        page = client.get(path)
        assert_no_developer_text(page.text, path)
    todo = client.get("/console/todo").text
    assert "待办事项（南山区）" in todo and 'title="110105"' in todo and "朝阳区" in todo
    assert "南山区" in visible_text(todo).split("退出")[0]  # the header names the region
    assert "—" not in visible_text(todo.split('id="todo"')[1]).split("440305********")[1][:4]


def test_refusals_are_worded_for_people(client: TestClient, nanshan_clerk: str) -> None:
    sign_in(client, nanshan_clerk)
    refused = client.get("/console/audit")
    assert refused.status_code == 403
    assert "此页面仅供管理员使用，您的账号角色是县级业务员。" in visible_text(refused.text)
    expired = client.post("/console/account/password", data={"csrf_token": "stale"})
    assert expired.status_code == 403
    text = visible_text(expired.text)
    assert "页面已过期" in text and "刷新页面" in text and "超出您的权限范围" not in text
    assert "csrf_token" in expired.text  # the field is still named, under 技术信息


def test_periods_and_months_read_in_chinese(
    client: TestClient, gd_admin: str, traffic: dict
) -> None:
    year, month = traffic["period"].split("-")
    label = f"{year}年{int(month)}月"
    assert format_period(traffic["period"], "zh") == label
    assert format_period("2026-Q4", "zh") == "2026年第4季度"
    sign_in(client, gd_admin)
    page = client.get("/console/reports").text
    assert f"广东省 {label} 部门月报" in page
    field = page.split('<input type="text" name="period"')[1].split(">")[0]
    assert f'value="{traffic["period"]}"' in field
    picker = page.split('<datalist id="period-choices">')[1].split("</datalist>")[0]
    assert f'value="{traffic["period"]}">{label}</option>' in picker
    first = f"{int(year) - (int(month) <= 5)}年{(int(month) - 6) % 12 + 1}月"
    assert f"{first}至{label}</option>" in picker  # the last six months, as a range
    assert "November" not in picker and 'type="month"' not in page


def test_hong_kong_and_macao_have_simplified_names(hub: HubContext) -> None:
    names = {e.code: e.name for e in bundled_catalogue()}
    assert (names["810000"], names["820000"]) == ("香港特别行政区", "澳门特别行政区")
    with hub.sessions() as session:
        assert regions.names_of(session, ["810000", "820000"]) == {
            "810000": "香港特别行政区",
            "820000": "澳门特别行政区",
        }


def test_one_word_per_concept_in_the_catalogue() -> None:
    from exchange_hub.web.i18n import catalogue

    zh = catalogue("zh")
    assert zh["kind.notification"] == "通知" and zh["rate.receipt"] == "通知接收率"
    assert zh["nav.bulletin"] == "月度通报" and zh["nav.reports"] == "部门月报"
    offenders = [k for k, v in zh.items() if "通报" in v and not k.startswith("nav.bulletin")]
    assert all("月度通报" in zh[k] for k in offenders), offenders
    assert "最差" not in " ".join(zh.values())


# -- the audit log -------------------------------------------------------------------------
def _days_ago(days: int) -> str:
    return (hub_clock.now().astimezone(LOCAL_TIME) - timedelta(days=days)).date().isoformat()


def test_the_audit_log_is_newest_first_in_words_and_filtered_by_date(
    client: TestClient, gd_admin: str, traffic: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/audit").text
    ids = [int(i) for i in re.findall(r'<td class="num">(\d+)</td><td class="nowrap"', page)]
    assert len(ids) >= 2 and ids == sorted(ids, reverse=True)
    assert "登录控制台" in page and "console.sign_in" not in visible_text(page)
    today = _days_ago(0)
    only_today = client.get(f"/console/audit?date_from={today}&date_to={today}").text
    assert "登录控制台" in only_today
    earlier = _days_ago(40)
    none = client.get(f"/console/audit?date_from={earlier}&date_to={earlier}").text
    assert "登录控制台" not in none.split('id="audit-events"')[1]
    bad = client.get(f"/console/audit?date_from={today}&date_to={earlier}")
    assert bad.status_code == 422 and "date_from" in bad.text
    nonsense = client.get("/console/audit?date_to=2026-13-45")
    assert nonsense.status_code == 422 and "date_to" in nonsense.text


def test_the_audit_export_is_csv_with_bom_masked_scoped_and_audited(
    client: TestClient, hub: HubContext, gd_admin: str, traffic: dict
) -> None:
    sign_in(client, gd_admin)
    answer = client.get("/console/audit/export.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["#", "时间", "操作者"]
    ids = [int(r[0]) for r in rows[1:]]
    assert ids and ids == sorted(ids, reverse=True)
    body = answer.content.decode("utf-8-sig")
    assert not re.search(r"\d{17}[\dX]", body), "an ID number in clear"
    assert "朝阳区" not in body  # Beijing's rows are outside Guangdong's scope
    assert audit_rows(hub, "console.audit_export")


# -- 我的账号 ------------------------------------------------------------------------------
NEW_PASSWORD = "a brand new passphrase"


def _change(client: TestClient, csrf: str, current: str, new: str, again: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf, "current_password": current, "new_password": new,
            "repeat_password": again}  # fmt: skip
    return client.post("/console/account/password", data=data, follow_redirects=False)


@pytest.mark.parametrize(
    ("current", "new", "again", "field", "words"),
    [
        ("wrong password!", NEW_PASSWORD, NEW_PASSWORD, "current_password", "当前密码不正确"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "repeat_password", "两次输入的新密码不一致"),
        (PASSWORD, "short", "short", "new_password", "新密码至少需要"),
        (PASSWORD, PASSWORD, PASSWORD, "new_password", "新密码与当前密码相同"),
    ],
)
def test_a_refused_password_change_names_the_field(
    client: TestClient, hub: HubContext, gd_admin: str,
    current: str, new: str, again: str, field: str, words: str,
) -> None:  # fmt: skip
    csrf = sign_in(client, gd_admin)
    answer = _change(client, csrf, current, new, again)
    assert answer.status_code == 422
    assert f'data-field="{field}"' in answer.text and words in answer.text
    assert f'name="{field}" autocomplete' in answer.text.split('aria-invalid="true"')[0][-200:]
    assert post_sign_in(TestClient(client.app), gd_admin).status_code == 303  # unchanged
    if field == "current_password":
        assert [r.outcome for r in audit_rows(hub, "console.password_changed")] == ["refused"]


def test_wrong_current_passwords_count_toward_the_lock_out(
    client: TestClient, other_client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    sign_in(other_client, gd_admin)
    csrf = sign_in(client, gd_admin)
    for _ in range(auth.MAX_FAILURES - 1):
        assert (
            _change(client, csrf, "wrong password!", NEW_PASSWORD, NEW_PASSWORD).status_code == 422
        )
    last = _change(client, csrf, "wrong password!", NEW_PASSWORD, NEW_PASSWORD)
    assert last.status_code == 303 and last.headers["location"] == "/console/sign-in?locked=1"
    assert "已被锁定" in client.get(last.headers["location"]).text
    for browser in (client, other_client):  # every session of the account ended
        assert browser.get("/console/account", follow_redirects=False).status_code == 303
    locked = post_sign_in(TestClient(client.app), gd_admin)  # the right password, locked
    assert locked.status_code == 401 and "锁定" in locked.text
    refusals = [r.detail["reason"] for r in audit_rows(hub, "console.password_changed")]
    assert refusals == ["wrong"] * (auth.MAX_FAILURES - 1) + ["locked"]


def test_a_right_sign_in_between_resets_the_count(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    csrf = sign_in(client, gd_admin)
    for _ in range(auth.MAX_FAILURES - 1):
        _change(client, csrf, "wrong password!", NEW_PASSWORD, NEW_PASSWORD)
    csrf = sign_in(TestClient(client.app), gd_admin) and sign_in(client, gd_admin)
    assert _change(client, csrf, "wrong password!", NEW_PASSWORD, NEW_PASSWORD).status_code == 422


def test_a_password_change_ends_the_other_sessions(
    client: TestClient, other_client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    sign_in(other_client, gd_admin)
    csrf = sign_in(client, gd_admin)
    answer = _change(client, csrf, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "密码已修改" in page.text and "（1 个）" in page.text
    assert other_client.get("/console/account", follow_redirects=False).status_code == 303
    assert post_sign_in(TestClient(client.app), gd_admin).status_code == 401
    assert post_sign_in(TestClient(client.app), gd_admin, NEW_PASSWORD).status_code == 303
    with hub.sessions() as session:
        user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == gd_admin)).one()
        assert user.password_hash.startswith("$argon2id$") and user.password_changed_at
        assert session.scalars(select(ConsoleSession)).all()
    [done] = audit_rows(hub, "console.password_changed")
    assert done.outcome == "ok" and done.detail == {"username": gd_admin, "other_sessions_ended": 1}


def test_the_account_page_shows_the_previous_sign_in(
    client: TestClient, gd_admin: str, console_day: datetime
) -> None:
    sign_in(client, gd_admin)
    first = client.get("/console/account").text
    assert "（这是首次登录）" in first and "testclient" in first
    csrf = csrf_from(first)
    client.post("/console/sign-out", data={"csrf_token": csrf})
    sign_in(client, gd_admin)
    again = visible_text(client.get("/console/account").text)
    shown = hub_clock.now().astimezone(LOCAL_TIME).strftime("%Y-%m-%d")
    assert "上次登录" in again and f"{shown}" in again and "，来自 testclient" in again
    assert "如上次登录不是您本人操作" in again


def test_the_bulletin_page_folds_its_tables_and_hides_codes(
    client: TestClient, gd_admin: str, traffic: dict
) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/bulletin", params={"period": traffic["period"]}).text
    folds = re.findall(r'<details class="fold" id="table-[^"]+"( open)?>', page)
    assert len(folds) > 3 and folds.count(" open") == 1 and folds[0] == " open"
    assert "<th>地区代码</th>" not in page and "<th>被查询地代码</th>" not in page
    assert 'title="440305">南山区' in page  # the code stays on hover
    assert_no_developer_text(page, "/console/bulletin")

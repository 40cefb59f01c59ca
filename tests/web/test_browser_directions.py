# ruff: noqa: F811  (the test's parameters are the fixtures imported from test_browser.py)
"""In a real browser: a destination province's admin sees what its counties asked.

Same machinery as ``test_browser.py`` (Debian's Chromium through Playwright, the hub under
uvicorn on 127.0.0.1, every request checked to stay local)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from exchange_hub.context import HubContext
from tests.web import factories
from tests.web.helpers import make_user
from tests.web.test_browser import (
    ARTIFACTS,
    _only_local,
    _sign_in,
    browser_page,  # noqa: F401  (fixture)
    pytestmark,  # noqa: F401  (slow, skipped without Chromium)
    served_hub,  # noqa: F401  (fixture)
)


@pytest.fixture
def guangdong_asks(hub: HubContext, console_day: datetime) -> None:
    """Last month Nanshan sent Beijing's Chaoyang four queries, three answered; nobody sent
    Guangdong anything."""
    at = factories.last_month_moment()
    for index in range(4):
        query = factories.send_query(hub, to="110105", sender="440305", at=at, seq=f"40{index}")
        if index < 3:
            factories.answer_query(hub, query, by="110105", at=at + timedelta(days=2))
    make_user(hub, "admin_gd", role="admin", region="440000")


def test_a_destination_province_sees_its_requester_figures(
    browser_page,
    served_hub: str,
    guangdong_asks: None,
) -> None:  # type: ignore[no-untyped-def]
    page, requests, problems = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    _sign_in(page, served_hub, "admin_gd")
    assert page.url.startswith(f"{served_hub}/console/overview")
    asking = page.locator("#direction-requester")
    feedback = asking.locator("[data-rate=feedback_rate]")
    assert "75.0%" in feedback.inner_text() and "3 / 4" in feedback.inner_text()
    assert "作为现居住地" in asking.inner_text()
    answering = page.locator("#direction-responder [data-rate=feedback_rate]").inner_text()
    assert "—" in answering and "0 / 0" in answering
    page.screenshot(path=str(ARTIFACTS / "overview-directions.png"), full_page=False)

    page.select_option("select[name=role]", "requester")  # auto-submits
    page.wait_for_selector("#ranked a:has-text('深圳市')")
    page.wait_for_selector("#trend-chart .main-svg")
    row = page.locator("#ranked tbody tr", has_text="深圳市").inner_text()
    assert "3/4" in row
    assert page.locator("#ranked tbody tr").count() == 1  # the idle cities are hidden
    page.click("#show-all-regions")
    page.wait_for_selector("#ranked a:has-text('珠海市')")
    assert "role=requester" in page.url and "all=1" in page.url
    _only_local(requests)
    assert not problems, problems

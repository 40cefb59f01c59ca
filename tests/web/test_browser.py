"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright.

The hub runs under uvicorn on 127.0.0.1 inside the test; the browser signs
in, opens the overview, drills down to a county, downloads the bulletin as
XLSX, and answers a query from a clerk's to-do list. Every request the pages
make is recorded: none may leave 127.0.0.1 (SPEC §7, intranets have no
internet). Screenshots land in ``tests/artifacts/`` (git-ignored).

``.ci/run`` installs ``chromium`` with apt-get when it is missing; locally the
tests skip with the reason when it is absent. ``playwright install`` is never
run: the browser is the system's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from openpyxl import load_workbook

from exchange_hub.context import HubContext
from exchange_hub.models import Message
from tests.fixtures.served import hub_in_thread
from tests.web import factories
from tests.web.helpers import PASSWORD, make_user

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
pytestmark = [
    pytest.mark.slow,
    # In CI (CI=true) a missing browser fails the test instead of skipping it.
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]


@pytest.fixture
def served_hub(hub: HubContext) -> Iterator[str]:
    """The hub under uvicorn on 127.0.0.1, on a free port, in a thread of this process."""
    with hub_in_thread(hub) as url:
        yield url


@pytest.fixture
def browser_page(served_hub: str) -> Iterator[tuple[object, list[str], list[str]]]:
    """A page at 1366×768 that records every request and every console error."""
    requests: list[str] = []
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, env=browser_env()
        )
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, locale="zh-CN")
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.set_default_timeout(30_000)
        try:
            yield page, requests, problems
        finally:
            context.close()
            browser.close()


def browser_env() -> dict[str, str]:
    """The browser's environment: CI's runs at other dates preload libfaketime into every
    process, and Chromium under it never finishes loading a page. The browser is only the
    client (session cookies, no dates of its own); the hub under test keeps the faked clock."""
    hidden = {
        "LD_PRELOAD",
        "FAKETIME",
        "FAKETIME_DONT_FAKE_MONOTONIC",
        "FAKETIME_FORCE_MONOTONIC_FIX",
    }
    return {name: value for name, value in os.environ.items() if name not in hidden}


@pytest.fixture
def traffic(hub: HubContext, console_day: datetime) -> dict[str, object]:
    """Last month in Guangdong: Nanshan answered, Tianhe left a query overdue; one open today."""
    at = factories.last_month_moment()
    answered = factories.send_query(hub, to="440305", at=at, seq="301")
    factories.answer_query(hub, answered, by="440305", at=at + timedelta(days=3))
    factories.send_query(hub, to="440106", at=at, seq="302")
    factories.send_query(hub, to="440305", at=at, seq="303")
    open_query = factories.send_query(hub, to="440305", seq="304")
    make_user(hub, "admin_gd", role="admin", region="440000")
    make_user(hub, "clerk_nanshan", role="county", region="440305")
    return {"open_query": open_query}


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/console")
    assert "/console/sign-in" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _only_local(requests: list[str]) -> None:
    hosts = {urlsplit(url).hostname for url in requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, f"requests left the hub: {sorted(hosts)}"


def test_admin_signs_in_drills_down_and_downloads_the_bulletin(
    browser_page, served_hub: str, traffic: dict, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    page, requests, problems = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    _sign_in(page, served_hub, "admin_gd")
    assert page.url.startswith(f"{served_hub}/console/overview")
    page.wait_for_selector("#trend-chart .main-svg")
    assert page.locator("#ranked tr.worst").count() == 1
    assert "广州市" in page.locator("#ranked tr.worst").inner_text()
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=False)

    page.click("#ranked th:nth-child(2)")  # sortable: by region name
    assert page.locator("#ranked th[aria-sort]").count() == 1

    page.click("#ranked a:has-text('深圳市')")
    page.wait_for_selector("#ranked a:has-text('南山区')")
    page.click("#ranked a:has-text('南山区')")
    page.wait_for_selector("#open-queries")
    assert "超期及未反馈的查询" in page.content()
    assert page.locator("#open-queries tbody tr.overdue").count() == 1
    assert "440305********" in page.locator("#open-queries").inner_text()
    page.screenshot(path=str(ARTIFACTS / "drilldown.png"), full_page=True)

    page.click("nav.side a[href='/console/bulletin']")
    with page.expect_download() as download_info:
        page.click("#download-xlsx")
    target = ARTIFACTS / "bulletin.xlsx"
    download_info.value.save_as(str(target))
    assert load_workbook(target).sheetnames

    _only_local(requests)
    assert not problems, problems


def test_clerk_answers_a_query_from_the_to_do_page(
    browser_page, served_hub: str, hub: HubContext, traffic: dict
) -> None:  # type: ignore[no-untyped-def]
    page, requests, problems = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    _sign_in(page, served_hub, "clerk_nanshan")
    assert page.url.startswith(f"{served_hub}/console/todo")
    row = page.locator(f"tr[data-message='{traffic['open_query']}']")
    row.locator("summary").click()
    row.locator("select[name=result]").select_option("found")
    row.locator("input[name=note]").fill("已核实")
    row.locator("button:has-text('发送反馈')").click()
    page.wait_for_selector(".notice.good")
    page.screenshot(path=str(ARTIFACTS / "todo.png"), full_page=False)
    with hub.sessions() as session:
        message = session.get(Message, traffic["open_query"])
        assert message is not None
        assert (message.state, message.feedback_result) == ("answered", "found")
    assert page.locator(f"tr[data-message='{traffic['open_query']}']").count() == 0
    _only_local(requests)
    assert not problems, problems

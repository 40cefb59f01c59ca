"""Every console page in headless Chromium at 1366×768: axe-core finds no serious or critical
accessibility violation, and the clerk's answer form fits the screen (issue 17).

axe-core is the npm package pinned in ``tests/web/axe/package.json``; ``.ci/run`` installs it
with ``npm ci --prefix tests/web/axe``. Locally the tests skip when it is missing; in CI
(CI=true) they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web import test_browser as base
from tests.web.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    _only_local,
    _sign_in,
    browser_env,
)

served_hub = base.served_hub  # the hub under uvicorn, and last month's traffic: shared fixtures
traffic = base.traffic

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"), reason="Debian's chromium is missing"
    ),
    pytest.mark.skipif(
        not AXE.exists() and not os.environ.get("CI"),
        reason="axe-core is not installed: npm ci --prefix tests/web/axe",
    ),
]
ADMIN_PAGES = (
    "/console/overview",
    "/console/drilldown?region=440300",
    "/console/latency",
    "/console/bulletin",
    "/console/reports",
    "/console/scorecard",
    "/console/scorecard/items?region=440305&indicator=certificate_check_rate",
    "/console/audit",
    "/console/account",
    "/console/users",
    "/console/nowhere",
)
CLERK_PAGES = ("/console/todo", "/console/account", "/console/audit")
SERIOUS = """async () => {
  const found = await axe.run(document, {resultTypes: ["violations"]});
  return found.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): "
      + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
}"""


@pytest.fixture
def axe_page(served_hub: str):  # type: ignore[no-untyped-def]
    """A page whose context lets the test inject axe (the hub's CSP allows only its own scripts)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, env=browser_env()
        )
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        try:
            yield page, requests
        finally:
            context.close()
            browser.close()


def _violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    return page.evaluate(SERIOUS)  # type: ignore[no-any-return]


def test_no_serious_accessibility_violation_on_any_page(
    axe_page, served_hub: str, traffic: dict
) -> None:  # type: ignore[no-untyped-def]
    page, requests = axe_page
    found: dict[str, list[str]] = {}
    page.goto(f"{served_hub}/console/sign-in")
    found["/console/sign-in"] = _violations(page)
    _sign_in(page, served_hub, "admin_gd")
    for path in ADMIN_PAGES:
        page.goto(f"{served_hub}{path}")
        found[path] = _violations(page)
    page.context.clear_cookies()
    _sign_in(page, served_hub, "clerk_nanshan")
    for path in CLERK_PAGES:
        page.goto(f"{served_hub}{path}")
        found[f"clerk {path}"] = _violations(page)
    page.locator("summary").first.click()
    found["clerk answer form"] = _violations(page)
    _only_local(requests)
    problems = {path: v for path, v in found.items() if v}
    assert not problems, "\n".join(f"{p}: {v}" for p, v in problems.items())


def test_the_answer_form_fits_the_screen(axe_page, served_hub: str, traffic: dict) -> None:  # type: ignore[no-untyped-def]
    page, _requests = axe_page
    _sign_in(page, served_hub, "clerk_nanshan")
    row = page.locator(f"tr[data-message='{traffic['open_query']}']")
    row.locator("summary").click()
    button = row.locator("button:has-text('发送反馈')")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "todo-answer-form.png"))
    assert box["width"] >= 60, box
    assert box["height"] < 48, box  # one line, not its characters stacked
    assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], box
    for field in ("result", "note", "candidates"):
        field_box = row.locator(f"[name={field}]").bounding_box()
        assert field_box and field_box["x"] + field_box["width"] <= VIEWPORT["width"], field

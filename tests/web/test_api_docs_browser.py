"""``/docs`` in headless Chromium: the operations are listed, and nothing leaves 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.web.test_browser import (  # the served hub and the recording page
    ARTIFACTS,
    _only_local,
    browser_page,
    pytestmark,
    served_hub,
)

__all__ = ["browser_page", "pytestmark", "served_hub"]


@pytest.mark.slow
def test_docs_render_the_operations_from_the_hub_alone(browser_page, served_hub: str) -> None:  # type: ignore[no-untyped-def]
    page, requests, problems = browser_page
    page.goto(f"{served_hub}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/bulletin" in path for path in paths), paths[:10]
    assert any("/api/v1/messages" in path for path in paths)
    assert page.locator(".opblock").count() > 20
    assert "exchange-hub" in page.locator(".info .title").inner_text()
    page.wait_for_load_state("networkidle")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=False)
    _only_local(requests)
    assert f"{served_hub}/openapi.json" in requests
    assert not problems, problems

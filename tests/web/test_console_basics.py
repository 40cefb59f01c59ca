"""Static files, languages, security headers, scope refusals and the audit-trail page."""

from __future__ import annotations

import json
import re
from importlib import resources

from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.audit import service as audit
from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent
from exchange_hub.web.i18n import LANGUAGES, catalogue
from tests.web.helpers import sign_in


def test_the_chart_library_and_our_assets_are_served_by_the_hub(client: TestClient) -> None:
    plotly_js = client.get("/console/static/plotly.min.js")
    assert plotly_js.status_code == 200
    assert len(plotly_js.content) > 1_000_000
    assert "javascript" in plotly_js.headers["content-type"]
    assert client.get("/console/static/console.css").status_code == 200
    assert client.get("/console/static/console.js").status_code == 200


def test_static_names_outside_the_asset_list_are_refused(client: TestClient) -> None:
    for name in ("../router.py", "..%2Fauth.py", "missing.js"):
        assert client.get(f"/console/static/{name}").status_code == 404


def test_pages_carry_a_same_origin_content_security_policy(client: TestClient) -> None:
    page = client.get("/console/sign-in")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert not re.search(r'(src|href)="(https?:)?//', page.text), "no asset from outside the hub"


def test_chinese_by_default_and_english_on_request(client: TestClient, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    assert '<html lang="zh-CN">' in client.get("/console/audit").text
    switched = client.get("/console/language/en?next=/console/audit", follow_redirects=False)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/console/audit"
    page = client.get("/console/audit").text
    assert '<html lang="en">' in page
    assert "Audit trail" in page and "审计日志</h1>" not in page
    assert client.get("/console/language/fr").status_code == 404
    escape = client.get("/console/language/en?next=https://evil.example/", follow_redirects=False)
    assert escape.headers["location"] == "/console"


def test_both_catalogues_hold_the_same_labels() -> None:
    zh, en = catalogue("zh"), catalogue("en")
    assert set(zh) == set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])


def test_every_label_a_template_asks_for_exists() -> None:
    folder = resources.files("exchange_hub.web").joinpath("templates")
    asked: set[str] = set()
    for template in folder.iterdir():
        found = re.findall(
            r"""(?<![\w.])t\(\s*["']([a-z_.0-9]+)["']""", template.read_text("utf-8")
        )
        asked |= {key for key in found if not key.endswith(".")}  # "x." ~ value: built keys
    for lang in LANGUAGES:
        missing = asked - set(catalogue(lang))
        assert not missing, f"{lang}: {sorted(missing)}"


def test_a_clerk_may_not_open_the_audit_trail(
    client: TestClient, hub: HubContext, nanshan_clerk: str
) -> None:
    sign_in(client, nanshan_clerk)
    response = client.get("/console/audit")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    with hub.sessions() as session:
        refusal = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "scope.refused")
        ).one()
    assert refusal.actor == "county:440305:console:clerk_nanshan"
    assert refusal.detail["path"] == "/console/audit"


def test_the_audit_page_shows_only_the_admins_region_and_the_chain_status(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    audit.record_now(hub.sessions, audit.AuditEntry(action="demo.event", region="440305"))
    audit.record_now(hub.sessions, audit.AuditEntry(action="demo.event", region="110105"))
    sign_in(client, gd_admin)
    page = client.get("/console/audit").text
    assert "审计链校验通过" in page
    assert "440305" in page
    assert "110105" not in page
    filtered = client.get("/console/audit?action=console.sign_in&outcome=ok").text
    assert "demo.event" not in filtered
    assert "console.sign_in" in filtered


def test_the_audit_page_masks_id_numbers_in_details(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    detail = {"note": "subject 11010519491231002X"}
    audit.record_now(
        hub.sessions, audit.AuditEntry(action="demo.event", region="440305", detail=detail)
    )
    sign_in(client, gd_admin)
    page = client.get("/console/audit").text
    assert "11010519491231002X" not in page
    assert "110105********002X" in page


def test_the_audit_page_refuses_bad_filters_with_a_page(client: TestClient, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    response = client.get("/console/audit?cursor=-4")
    assert response.status_code == 422
    assert "cursor" in response.text
    assert client.get("/console/audit?action=" + "x" * 61).status_code == 422


def test_audit_page_data_scripts_are_json(client: TestClient, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    page = client.get("/console/audit").text
    for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S):
        json.loads(block)


def test_unknown_console_pages_are_a_404_page(client: TestClient, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    response = client.get("/console/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "未找到" in response.text

"""Signing in through a real OpenID Connect provider, in headless Chromium (issue 20).

The provider is node-oidc-provider (OpenID Certified; ``tests/web/oidc/``, pinned by its
package-lock.json, installed by ``.ci/run`` with ``npm ci``) on 127.0.0.1, started by the
test (``tests/web/oidc_provider.py``); the hub runs under uvicorn beside it, configured with
the provider's issuer, a client, and a claim mapping (role and region claims, Guangdong
only). The browser signs in through the provider's own login and consent pages.

Shown: a full sign-in and RP-initiated sign-out; refusals of a wrong ``state`` (changed, or
the callback replayed or opened in another browser), a replayed or wrong ``nonce``, a wrong
issuer, a wrong audience, an expired ID token, a key the provider never published and a
bad signature; the provider rotating its keys between two sign-ins; an unmapped subject
refused; a county clerk mapped by claims sees only the to-do list. Each refusal is the
sign-in page with a Chinese sentence, no session, and an audit row with its reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from exchange_hub.clock import Clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import AuditEvent, ConsoleSession
from exchange_hub.web import oidc_accounts
from tests.fixtures.hub import make_context
from tests.fixtures.served import free_port, hub_in_thread
from tests.web import oidc_provider
from tests.web.helpers import make_user
from tests.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, VIEWPORT, browser_env

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
IN_CI = bool(os.environ.get("CI"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not IN_CI, reason="Debian's chromium is not installed"
    ),
    pytest.mark.skipif(
        not (oidc_provider.node() and oidc_provider.installed()) and not IN_CI,
        reason="node or the provider is missing: apt-get install nodejs npm; "
        "npm ci --prefix tests/web/oidc",
    ),
]
ACCOUNTS = {
    "zhang-admin": {"name": "张明", "hub_role": "county", "hub_region": "440305"},
    "li-clerk": {"name": "李华", "hub_role": "county", "hub_region": "440305"},
    "wang-outside": {"name": "王芳", "hub_role": "county", "hub_region": "110105"},
}
"""zhang-admin is linked to the Guangdong admin account (its claims change nothing);
li-clerk is mapped by its claims; wang-outside claims a region outside the allowlist;
any other login name (``stranger``) carries no claims at all."""


@dataclass
class Site:
    hub_url: str
    hub: HubContext
    provider: OidcProvider


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    hub_port, provider_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    provider = OidcProvider(tmp_path, provider_port, hub_url, ACCOUNTS)
    provider.start()
    hub = make_context(
        database_url,
        tmp_path / "data",
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_scopes="openid profile hub",
        oidc_role_claim="hub_role",
        oidc_region_claim="hub_region",
        oidc_allowed_regions=["440000"],
    )
    make_user(hub, "admin_gd", role="admin", region="440000")
    with transaction(hub.sessions) as session:
        oidc_accounts.link_subject(session, username="admin_gd", subject="zhang-admin")
    try:
        with hub_in_thread(hub, hub_port):
            yield Site(hub_url, hub, provider)
    finally:
        provider.stop()
        hub.dispose()


@pytest.fixture
def browser(site: Site) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, env=browser_env()
        )
        try:
            yield launched
        finally:
            launched.close()


OUTSIDE = re.compile(r"^(?!http://127\.0\.0\.1[:/]).*")


def new_context(browser: Any, **options: Any) -> Any:
    """A browser context that reaches 127.0.0.1 only: the provider's development pages
    import a web font from the internet, which is cut off before it leaves the machine."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", **options)
    context.route(OUTSIDE, lambda route: route.abort())
    return context


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = new_context(browser)
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    try:
        yield opened
    finally:
        context.close()


def sign_in_through_provider(page: Any, site: Site, login: str) -> None:
    """From the console's sign-in page through the provider's login and consent, back."""
    page.goto(f"{site.hub_url}/console")
    page.click("#sign-in-provider")
    for _ in range(6):
        page.wait_for_load_state("networkidle")
        if page.url.startswith(site.hub_url):
            return
        if page.locator("input[name=login]").count():
            page.fill("input[name=login]", login)
            page.fill("input[name=password]", "any password: the provider's dev login")
            page.click("button[type=submit]")
        else:  # the provider's consent page
            page.click("button[type=submit]")
    raise AssertionError(f"never came back from the provider: {page.url}")


def sign_ins(hub: HubContext) -> list[AuditEvent]:
    with hub.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == "console.sign_in")
        return list(session.scalars(query.order_by(AuditEvent.id)))


def sessions_of(hub: HubContext) -> list[ConsoleSession]:
    with hub.sessions() as session:
        return list(session.scalars(select(ConsoleSession)))


def assert_refused(page: Any, site: Site, reason: str, words: str) -> None:
    assert urlsplit(page.url).path.startswith("/console/oidc/callback"), page.url
    message = page.locator("#sign-in-message").inner_text()
    assert words in message, message
    assert page.locator("#sign-in-provider").count() == 1  # the way to try again
    last = sign_ins(site.hub)[-1]
    assert (last.outcome, (last.detail or {}).get("reason")) == ("refused", reason)
    assert not sessions_of(site.hub)


def test_full_sign_in_and_sign_out(page: Any, site: Site) -> None:
    sign_in_through_provider(page, site, "zhang-admin")
    assert urlsplit(page.url).path == "/console/overview"
    assert "admin_gd" in page.locator(".account-label").inner_text()
    (session_row,) = sessions_of(site.hub)
    assert session_row.oidc_subject == "zhang-admin"
    ok = sign_ins(site.hub)[-1]
    assert ok.outcome == "ok"
    assert ok.detail == {
        "username": "admin_gd",
        "method": "oidc",
        "subject": "zhang-admin",
        "mapped_by": "link",
    }
    page.goto(f"{site.hub_url}/console/account")
    assert "统一身份认证平台" in page.locator("#sign-in-method").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "oidc-account.png"))

    page.click("form[action='/console/sign-out'] button")
    page.wait_for_load_state("networkidle")
    assert page.url.startswith(site.provider.issuer), "sign-out goes on to the provider"
    page.click("button[name=logout]")  # the provider's "Yes, sign me out"
    page.wait_for_url(f"{site.hub_url}/console/sign-in?signed_out=1*")
    assert "您已安全退出" in page.content()
    assert not sessions_of(site.hub)
    with site.hub.sessions() as session:
        out = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "console.sign_out")
        ).one()
    assert out.detail == {"method": "oidc", "subject": "zhang-admin"}
    # signed out at the provider too: signing in again asks for the login there
    page.click("#sign-in-provider")
    page.wait_for_selector("input[name=login]")


def test_a_clerk_mapped_by_claims_sees_only_the_to_do_list(page: Any, site: Site) -> None:
    sign_in_through_provider(page, site, "li-clerk")
    assert urlsplit(page.url).path == "/console/todo"
    menu = page.locator("nav.side a").all_inner_texts()
    assert menu == ["待办事项", "我的账号"]
    page.goto(f"{site.hub_url}/console/overview")
    assert "管理员" in page.locator("main").inner_text()  # the role it would need
    page.goto(f"{site.hub_url}/console/account")
    assert page.locator("form.password-form").count() == 0  # no password to change
    ok = sign_ins(site.hub)[-1]
    assert ok.detail is not None and ok.detail["mapped_by"] == "claims"
    assert ok.region == "440305"


@pytest.mark.parametrize("login", ["stranger", "wang-outside"])
def test_an_unmapped_subject_is_refused(page: Any, site: Site, login: str) -> None:
    sign_in_through_provider(page, site, login)
    reason = "role" if login == "stranger" else "region"  # no role claim; a region outside
    assert_refused(page, site, reason, "尚未在本系统开通账号")
    assert login in page.locator("#sign-in-message").inner_text()  # the subject to quote
    assert sign_ins(site.hub)[-1].detail["subject"] == login  # type: ignore[index]


@pytest.mark.parametrize(
    ("mode", "reason", "words"),
    [
        ("wrong_iss", "issuer", "签发方不是本系统配置的平台"),
        ("wrong_aud", "audience", "凭证不是签发给本系统的"),
        ("expired", "expired", "凭证已过期"),
        ("wrong_nonce", "nonce", "可能是重放"),
        ("unknown_key", "signing_key", "签名密钥不属于该平台"),
        ("bad_signature", "signature", "签名无效"),
    ],
)
def test_a_bad_id_token_is_refused(
    page: Any, site: Site, mode: str, reason: str, words: str
) -> None:
    site.provider.next_id_token(mode)
    sign_in_through_provider(page, site, "zhang-admin")
    assert_refused(page, site, reason, words)


def test_a_sign_in_cancelled_at_the_provider(page: Any, site: Site) -> None:
    page.goto(f"{site.hub_url}/console/sign-in")
    page.click("#sign-in-provider")
    page.click("text=[ Cancel ]")  # on the provider's login page
    page.wait_for_url(f"{site.hub_url}/console/oidc/callback*")
    assert_refused(page, site, "provider_error", "统一身份认证平台未完成登录")


@pytest.mark.parametrize(
    ("ahead", "reason", "words"),
    [(timedelta(hours=2), "expired", "凭证已过期"), (-timedelta(hours=2), "issued_at", "签发时间")],
)
def test_token_times_are_checked_on_the_hubs_clock(
    page: Any, site: Site, clock: Clock, ahead: timedelta, reason: str, words: str
) -> None:
    """The provider's ID token is good for an hour; a hub whose clock (exchange_hub.clock)
    reads two hours later finds it expired, two hours earlier not yet issued."""
    clock.pin(clock.now() + ahead)
    sign_in_through_provider(page, site, "zhang-admin")
    assert_refused(page, site, reason, words)


def test_a_replayed_id_token_is_refused(page: Any, site: Site) -> None:
    """The provider answers the second sign-in with the first one's ID token (valid, signed,
    not expired, but its nonce belongs to the first sign-in)."""
    sign_in_through_provider(page, site, "zhang-admin")
    page.context.clear_cookies()
    site.provider.next_id_token("replay")
    sign_in_through_provider(page, site, "zhang-admin")
    (first_session,) = sessions_of(site.hub)  # only the first sign-in's
    assert_refused_page = page.locator("#sign-in-message").inner_text()
    assert "可能是重放" in assert_refused_page
    assert sign_ins(site.hub)[-1].detail["reason"] == "nonce"  # type: ignore[index]
    assert first_session.oidc_subject == "zhang-admin"


def _with_state(url: str, state: str) -> str:
    parts = urlsplit(url)
    query = [(k, state if k == "state" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_wrong_state_is_refused(page: Any, site: Site) -> None:
    """The provider is sent another ``state`` than the one the hub keeps (the hub's redirect
    is rewritten on its way to the browser), and hands that one back."""

    def forge_state(route: Any) -> None:
        answer = route.fetch(max_redirects=0)
        headers = {**answer.headers, "location": _with_state(answer.headers["location"], "forged")}
        route.fulfill(response=answer, headers=headers)

    page.route(f"{site.hub_url}/console/oidc/start**", forge_state)
    sign_in_through_provider(page, site, "zhang-admin")
    assert "state=forged" in page.url
    assert_refused(page, site, "state", "登录请求已失效")


def test_a_callback_replayed_or_carried_to_another_browser_is_refused(
    page: Any, browser: Any, site: Site
) -> None:
    callbacks: list[str] = []
    page.on(
        "request",
        lambda request: callbacks.append(request.url) if "/oidc/callback" in request.url else None,
    )
    sign_in_through_provider(page, site, "zhang-admin")
    assert urlsplit(page.url).path == "/console/overview"
    (callback,) = callbacks
    other = new_context(browser).new_page()
    other.goto(callback)  # another browser: no sign-in of its own under way
    assert "登录请求已失效" in other.locator("#sign-in-message").inner_text()
    other.context.close()
    page.goto(callback)  # the same browser again: its sign-in was used up
    assert "登录请求已失效" in page.locator("#sign-in-message").inner_text()
    reasons = [(e.detail or {}).get("reason") for e in sign_ins(site.hub)]
    assert reasons[-2:] == ["state", "state"]
    assert len(sessions_of(site.hub)) == 1  # the one real sign-in


def test_the_provider_rotating_its_keys_between_two_sign_ins(page: Any, site: Site) -> None:
    sign_in_through_provider(page, site, "li-clerk")
    assert urlsplit(page.url).path == "/console/todo"
    page.context.clear_cookies()
    site.provider.rotate_keys()  # a new signing key; the old one is gone from the JWKS
    sign_in_through_provider(page, site, "li-clerk")
    assert urlsplit(page.url).path == "/console/todo"
    outcomes = [e.outcome for e in sign_ins(site.hub)]
    assert outcomes == ["ok", "ok"]


def test_the_sign_in_pages_are_accessible(browser: Any, site: Site) -> None:
    """axe-core (tests/web/axe) on the sign-in page with the provider's button, on a refusal,
    and on the pages an OIDC-signed-in admin has: 我的账号 and 账号管理."""
    from tests.web.test_browser_pages import AXE, _violations

    if not AXE.exists():
        pytest.skip("axe-core is not installed: npm ci --prefix tests/web/axe")
    context = new_context(browser, bypass_csp=True)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    page.goto(f"{site.hub_url}/console/sign-in")
    found["sign-in"] = _violations(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "oidc-sign-in.png"))
    sign_in_through_provider(page, site, "stranger")
    found["refused"] = _violations(page)
    page.screenshot(path=str(ARTIFACTS / "oidc-refused.png"))
    page.context.clear_cookies()
    sign_in_through_provider(page, site, "zhang-admin")
    for path in ("/console/account", "/console/users"):
        page.goto(f"{site.hub_url}{path}")
        found[path] = _violations(page)
        page.screenshot(path=str(ARTIFACTS / f"oidc-{path.rsplit('/', 1)[1]}.png"))
    context.close()
    problems = {path: v for path, v in found.items() if v}
    assert not problems, problems

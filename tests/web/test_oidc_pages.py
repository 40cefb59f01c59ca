"""The sign-in page with and without an identity provider, local accounts switched off, and
the OIDC routes' refusals that need no provider (issue 20). The flow against a real provider
is in ``test_oidc_browser.py``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.clock import Clock
from exchange_hub.config import Settings
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import ConsoleUser
from exchange_hub.web import auth, oidc
from tests.fixtures.hub import client_for, make_context
from tests.web.helpers import PASSWORD, audit_rows, csrf_from, make_user


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def issuer() -> str:
    return f"http://127.0.0.1:{_closed_port()}"


def _hub(database_url: str, tmp_path: Path, **overrides: object) -> HubContext:
    return make_context(database_url, tmp_path / "data", **overrides)


@pytest.fixture
def oidc_hub(database_url: str, tmp_path: Path, issuer: str) -> Iterator[HubContext]:
    hub = _hub(
        database_url,
        tmp_path,
        oidc_issuer=issuer,
        oidc_client_id="hub",
        oidc_client_secret="s3cret-of-tests",
    )
    yield hub
    hub.dispose()


@pytest.fixture
def oidc_client(oidc_hub: HubContext) -> Iterator[TestClient]:
    with client_for(oidc_hub) as test_client:
        yield test_client


def test_without_a_provider_the_page_has_no_button_and_the_routes_are_404(
    client: TestClient,
) -> None:
    page = client.get("/console/sign-in")
    assert 'id="sign-in-provider"' not in page.text
    assert 'name="password"' in page.text
    for path in ("/console/oidc/start", "/console/oidc/callback?code=x&state=y"):
        assert client.get(path, follow_redirects=False).status_code == 404
    assert "form-action 'self';" in page.headers["content-security-policy"]


def test_with_a_provider_the_page_offers_it_and_forms_may_lead_there(
    oidc_client: TestClient, issuer: str
) -> None:
    page = oidc_client.get("/console/sign-in?next=/console/audit")
    assert 'href="/console/oidc/start?next=/console/audit"' in page.text
    assert "通过统一身份认证平台登录" in page.text
    assert 'name="password"' in page.text  # local accounts stay unless switched off
    # signing out of an OIDC session is a form whose answer redirects to the provider
    assert f"form-action 'self' {issuer};" in page.headers["content-security-policy"]


def test_an_unreachable_provider_is_a_clear_503_and_audited(
    oidc_client: TestClient, oidc_hub: HubContext
) -> None:
    answer = oidc_client.get("/console/oidc/start", follow_redirects=False)
    assert answer.status_code == 503
    assert "暂时无法连接统一身份认证平台" in answer.text
    (entry,) = audit_rows(oidc_hub, "console.sign_in")
    assert (entry.outcome, entry.detail) == (
        "refused",
        {"method": "oidc", "reason": "provider_unreachable"},
    )


@pytest.mark.parametrize(
    "query", ["", "?code=abc&state=def", "?error=access_denied&state=x", "?state=" + "x" * 3000]
)
def test_a_callback_this_browser_did_not_start_is_refused(
    oidc_client: TestClient, oidc_hub: HubContext, query: str
) -> None:
    answer = oidc_client.get(f"/console/oidc/callback{query}", follow_redirects=False)
    assert answer.status_code == 401
    assert "登录请求已失效" in answer.text
    assert "hub_console=" not in answer.headers.get("set-cookie", "")
    (entry,) = audit_rows(oidc_hub, "console.sign_in")
    assert entry.detail == {"method": "oidc", "reason": "state"}


def test_a_forged_sign_in_cookie_finds_nothing(
    oidc_client: TestClient, oidc_hub: HubContext
) -> None:
    oidc_client.cookies.set("hub_oidc_sign_in", "made-up", path="/console")
    answer = oidc_client.get("/console/oidc/callback?code=a&state=b", follow_redirects=False)
    assert answer.status_code == 401
    assert "登录请求已失效" in answer.text


def test_local_accounts_switched_off(database_url: str, tmp_path: Path, issuer: str) -> None:
    hub = _hub(
        database_url,
        tmp_path,
        local_accounts=False,
        oidc_issuer=issuer,
        oidc_client_id="hub",
        oidc_client_secret="s3cret-of-tests",
    )
    make_user(hub, "admin_gd", role="admin", region="440000")
    with client_for(hub) as test_client:
        page = test_client.get("/console/sign-in")
        assert 'name="password"' not in page.text
        assert 'id="sign-in-provider"' in page.text
        form = {"username": "admin_gd", "password": PASSWORD, "csrf_token": "x"}
        test_client.cookies.set("hub_sign_in_csrf", "x", path="/console")
        refused = test_client.post("/console/sign-in", data=form, follow_redirects=False)
        assert refused.status_code == 403
        assert "已停用用户名密码登录" in refused.text
        assert "hub_console=" not in refused.headers.get("set-cookie", "")
    assert not audit_rows(hub, "console.sign_in")
    hub.dispose()


def test_no_password_to_change_once_local_accounts_are_off(
    database_url: str, tmp_path: Path
) -> None:
    hub = _hub(database_url, tmp_path, local_accounts=False)
    make_user(hub, "admin_gd", role="admin", region="440000")
    with transaction(hub.sessions) as session:
        user = session.scalars(select(ConsoleUser)).one()
        token = auth.open_session(session, user, client=None, oidc_subject="sub-1").token
    with client_for(hub) as test_client:
        test_client.cookies.set("hub_console", token, path="/console")
        page = test_client.get("/console/account")
        assert page.status_code == 200
        assert 'action="/console/account/password"' not in page.text
        assert "统一身份认证平台" in page.text  # how this session signed in
        data = {
            "csrf_token": csrf_from(page.text),
            "current_password": PASSWORD,
            "new_password": "another long password",
            "repeat_password": "another long password",
        }
        changed = test_client.post("/console/account/password", data=data)
        assert changed.status_code == 404
    assert not audit_rows(hub, "console.password_changed")
    hub.dispose()


def test_the_client_needs_an_id_and_a_secret(tmp_path: Path) -> None:
    assert oidc.build_client(Settings()) is None
    with pytest.raises(ValueError, match="HUB_OIDC_CLIENT_ID"):
        oidc.build_client(Settings(oidc_issuer="https://idp.example", oidc_client_id="hub"))
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n", encoding="utf-8")
    settings = Settings(
        oidc_issuer="https://idp.example/",
        oidc_client_id="hub",
        oidc_client_secret_file=secret,
        oidc_scopes="profile hub",
    )
    client = oidc.build_client(settings)
    assert client is not None
    assert client.client_secret == "from-a-file"
    assert client.client_kwargs["scope"] == "openid profile hub"
    assert client.client_kwargs["code_challenge_method"] == "S256"


def test_a_session_from_the_provider_times_out_and_needs_the_form_token(
    oidc_client: TestClient, oidc_hub: HubContext, clock: Clock
) -> None:
    """OIDC sessions are console sessions: CSRF on every form, the same idle time-out."""
    make_user(oidc_hub, "clerk_nanshan", role="county", region="440305")
    with transaction(oidc_hub.sessions) as session:
        user = session.scalars(select(ConsoleUser)).one()
        token = auth.open_session(session, user, client=None, oidc_subject="sub-9").token
    oidc_client.cookies.set("hub_console", token, path="/console")
    assert oidc_client.get("/console/todo").status_code == 200
    forged = oidc_client.post("/console/sign-out", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    clock.pin(clock.now() + timedelta(minutes=oidc_hub.settings.session_idle_minutes + 1))
    expired = oidc_client.get("/console/todo", follow_redirects=False)
    assert expired.status_code == 303
    assert "expired=1" in expired.headers["location"]

"""Signing in and out: cookies, CSRF, lock-out, idle time-out and the audit of every sign-in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from exchange_hub import clock as hub_clock
from exchange_hub.app import create_app
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import AuditEvent, ConsoleSession, ConsoleSignInGuard
from exchange_hub.web import auth
from tests.fixtures.hub import make_context
from tests.web.helpers import PASSWORD, csrf_from, post_sign_in, sign_in


def _audit(hub: HubContext, action: str) -> list[AuditEvent]:
    with hub.sessions() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        return list(rows)


def test_sign_in_sets_a_hardened_cookie_and_is_audited(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    response = post_sign_in(client, gd_admin, next="/console/audit")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/audit"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("hub_console=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie
    [row] = _audit(hub, "console.sign_in")
    assert (row.outcome, row.region, row.detail) == ("ok", "440000", {"username": gd_admin})
    assert row.actor == "admin:440000:console:admin_gd"
    assert client.get("/console/audit").status_code == 200


def test_cookie_is_secure_behind_tls(database_url: str, tmp_path: Path, gd_admin: str) -> None:
    hub = make_context(database_url, tmp_path / "data", secure_cookies=True)
    try:
        with TestClient(create_app(context=hub), base_url="https://testserver") as client:
            page = client.get("/console/sign-in")
            assert "Secure" in page.headers["set-cookie"]
            response = client.post(
                "/console/sign-in",
                data={
                    "username": gd_admin,
                    "password": PASSWORD,
                    "csrf_token": csrf_from(page.text),
                },
                follow_redirects=False,
            )
            assert response.status_code == 303
            assert all("Secure" in c for c in response.headers.get_list("set-cookie"))
    finally:
        hub.dispose()


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    wrong = post_sign_in(client, gd_admin, password="not the password")
    unknown = post_sign_in(client, "nobody_here", password="not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.text and "用户名或密码错误" in unknown.text
    assert "hub_console=" not in wrong.headers.get("set-cookie", "")
    rows = _audit(hub, "console.sign_in")
    assert [(r.outcome, r.detail["username"]) for r in rows] == [
        ("refused", gd_admin),
        ("refused", "nobody_here"),
    ]
    assert rows[1].member_id is None


def test_five_failures_lock_the_name_for_fifteen_minutes(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    for _ in range(auth.MAX_FAILURES - 1):
        assert post_sign_in(client, gd_admin, password="wrong password!").status_code == 401
    fifth = post_sign_in(client, gd_admin, password="wrong password!")
    assert "锁定" in fifth.text
    right_but_locked = post_sign_in(client, gd_admin)
    assert right_but_locked.status_code == 401
    assert "锁定" in right_but_locked.text
    assert [r.outcome for r in _audit(hub, "console.sign_in")][-2:] == ["refused", "locked"]
    with transaction(hub.sessions) as session:
        guard = session.get(ConsoleSignInGuard, gd_admin)
        assert guard is not None and guard.locked_until is not None
        remaining = guard.locked_until - hub_clock.now()
        assert timedelta(minutes=14) < remaining <= timedelta(minutes=auth.LOCK_MINUTES)
        guard.locked_until = hub_clock.now() - timedelta(seconds=1)
    assert post_sign_in(client, gd_admin).status_code == 303


def test_operator_unlocks_a_locked_name(client: TestClient, hub: HubContext, gd_admin: str) -> None:
    for _ in range(auth.MAX_FAILURES):
        post_sign_in(client, gd_admin, password="wrong password!")
    assert post_sign_in(client, gd_admin).status_code == 401
    with transaction(hub.sessions) as session:
        auth.unlock(session, gd_admin)
    assert post_sign_in(client, gd_admin).status_code == 303
    assert _audit(hub, "console.user_unlocked")


def test_success_resets_the_failure_count(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    for _ in range(auth.MAX_FAILURES - 1):
        post_sign_in(client, gd_admin, password="wrong password!")
    assert post_sign_in(client, gd_admin).status_code == 303
    for _ in range(auth.MAX_FAILURES - 1):
        post_sign_in(client, gd_admin, password="wrong password!")
    assert post_sign_in(client, gd_admin).status_code == 303


def test_sign_in_without_or_with_a_forged_csrf_token_is_refused(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    missing = client.post("/console/sign-in", data={"username": gd_admin, "password": PASSWORD})
    assert missing.status_code == 403
    assert "csrf_token" in missing.text
    client.get("/console/sign-in")
    forged = client.post(
        "/console/sign-in",
        data={"username": gd_admin, "password": PASSWORD, "csrf_token": "forged"},
    )
    assert forged.status_code == 403
    assert not _audit(hub, "console.sign_in")
    assert len(_audit(hub, "scope.refused")) == 2


def test_sign_out_needs_the_session_token_and_ends_the_session(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    token = sign_in(client, gd_admin)
    refused = client.post("/console/sign-out", data={"csrf_token": "guess"})
    assert refused.status_code == 403
    assert client.get("/console/audit").status_code == 200
    done = client.post("/console/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    with hub.sessions() as session:
        assert session.scalars(select(ConsoleSession)).all() == []
    assert _audit(hub, "console.sign_out")
    after = client.get("/console/audit", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/console/sign-in")


def test_an_idle_session_expires(client: TestClient, hub: HubContext, gd_admin: str) -> None:
    sign_in(client, gd_admin)
    idle = timedelta(minutes=hub.settings.session_idle_minutes, seconds=1)
    with transaction(hub.sessions) as session:
        session.execute(update(ConsoleSession).values(last_seen_at=hub_clock.now() - idle))
    response = client.get("/console/audit?action=console.sign_in", follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/console/sign-in?next=/console/audit")
    assert "expired=1" in location
    assert "请重新登录" in client.get(location).text


def test_an_active_session_is_kept_alive(
    client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    sign_in(client, gd_admin)
    almost = timedelta(minutes=hub.settings.session_idle_minutes - 1)
    with transaction(hub.sessions) as session:
        session.execute(update(ConsoleSession).values(last_seen_at=hub_clock.now() - almost))
    assert client.get("/console/audit").status_code == 200
    with hub.sessions() as session:
        row = session.scalars(select(ConsoleSession)).one()
        assert hub_clock.now() - row.last_seen_at < timedelta(minutes=1)


def test_pages_without_a_session_redirect_to_sign_in(client: TestClient) -> None:
    response = client.get("/console/audit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=/console/audit"
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_a_stolen_looking_cookie_gives_no_access(client: TestClient, gd_admin: str) -> None:
    client.cookies.set("hub_console", "made-up-token", path="/console")
    response = client.get("/console/audit", follow_redirects=False)
    assert response.status_code == 303


def test_redirect_after_sign_in_stays_inside_the_console(client: TestClient, gd_admin: str) -> None:
    response = post_sign_in(client, gd_admin, next="https://evil.example/")
    assert response.headers["location"] == "/console"
    response = post_sign_in(client, gd_admin, next="//evil.example/console")
    assert response.headers["location"] == "/console"


def test_oversized_fields_are_a_422_page(client: TestClient) -> None:
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"username": "x" * 500, "password": "p", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")


def test_signing_in_removes_sessions_left_idle(
    client: TestClient, other_client: TestClient, hub: HubContext, gd_admin: str
) -> None:
    sign_in(other_client, gd_admin)
    idle = timedelta(minutes=hub.settings.session_idle_minutes, seconds=1)
    with transaction(hub.sessions) as session:
        session.execute(update(ConsoleSession).values(last_seen_at=hub_clock.now() - idle))
    sign_in(client, gd_admin)
    with hub.sessions() as session:
        assert len(session.scalars(select(ConsoleSession)).all()) == 1

"""账号管理: an admin lists, locks and unlocks the console users of its region (issue 20)."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import ConsoleUser
from exchange_hub.web import auth
from tests.web.helpers import audit_rows, csrf_from, make_user, post_sign_in, sign_in


def _id_of(hub: HubContext, username: str) -> uuid.UUID:
    with hub.sessions() as session:
        return session.scalars(select(ConsoleUser.id).where(ConsoleUser.username == username)).one()


def _users_listed(html: str) -> list[str]:
    return re.findall(r'<tr data-user="([^"]+)"', html)


def _post(client: TestClient, csrf: str, user_id: uuid.UUID, action: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/console/users/{user_id}/{action}", data={"csrf_token": csrf}, follow_redirects=False
    )


def test_an_admin_sees_the_users_of_its_region_only(
    client: TestClient, hub: HubContext, gd_admin: str, nanshan_clerk: str, nation_admin: str
) -> None:
    make_user(hub, "clerk_chaoyang", role="county", region="110105")
    make_user(hub, "admin_sz", role="admin", region="440300")
    sign_in(client, gd_admin)
    page = client.get("/console/users")
    assert page.status_code == 200
    assert _users_listed(page.text) == ["admin_gd", "admin_sz", "clerk_nanshan"]
    assert "账号管理" in page.text and "广东省" in page.text
    assert 'href="/console/users"' in page.text  # in the admin's menu


def test_a_prefecture_admin_sees_its_prefecture(
    client: TestClient, hub: HubContext, gd_admin: str, nanshan_clerk: str
) -> None:
    make_user(hub, "admin_sz", role="admin", region="440300")
    make_user(hub, "clerk_tianhe", role="county", region="440106")
    sign_in(client, "admin_sz")
    assert _users_listed(client.get("/console/users").text) == ["admin_sz", "clerk_nanshan"]


def test_locking_ends_the_sessions_and_keeps_the_user_out_until_unlocked(
    client: TestClient, other_client: TestClient, hub: HubContext, gd_admin: str, nanshan_clerk: str
) -> None:
    csrf = sign_in(client, gd_admin)
    sign_in(other_client, nanshan_clerk)
    clerk = _id_of(hub, nanshan_clerk)

    locked = _post(client, csrf, clerk, "lock")
    assert locked.status_code == 303
    page = client.get(locked.headers["location"])
    assert "账号 clerk_nanshan 已锁定，其 1 个登录已退出。" in page.text
    assert "已锁定（admin_gd" in page.text
    assert other_client.get("/console/todo", follow_redirects=False).status_code == 303
    assert post_sign_in(other_client, nanshan_clerk).status_code == 401
    (entry,) = audit_rows(hub, "console.user_locked")
    assert entry.actor == "admin:440000:console:admin_gd"
    assert entry.detail == {"username": "clerk_nanshan", "sessions_ended": 1}

    assert _post(client, csrf, clerk, "lock").status_code == 409  # locked already
    unlocked = _post(client, csrf, clerk, "unlock")
    assert unlocked.status_code == 303
    assert "已解锁" in client.get(unlocked.headers["location"]).text
    assert post_sign_in(other_client, nanshan_clerk).status_code == 303
    assert len(audit_rows(hub, "console.user_unlocked")) == 1
    assert _post(client, csrf, clerk, "unlock").status_code == 409  # not locked


def test_unlocking_lifts_a_lock_out_by_wrong_passwords(
    client: TestClient, other_client: TestClient, hub: HubContext, gd_admin: str, nanshan_clerk: str
) -> None:
    for _ in range(auth.MAX_FAILURES):
        post_sign_in(other_client, nanshan_clerk, password="wrong password!")
    assert post_sign_in(other_client, nanshan_clerk).status_code == 401  # locked out
    csrf = sign_in(client, gd_admin)
    assert "输错密码暂时锁定" in client.get("/console/users").text
    assert _post(client, csrf, _id_of(hub, nanshan_clerk), "unlock").status_code == 303
    assert post_sign_in(other_client, nanshan_clerk).status_code == 303


def test_users_outside_the_region_and_oneself_cannot_be_locked(
    client: TestClient, hub: HubContext, gd_admin: str, nation_admin: str
) -> None:
    make_user(hub, "clerk_chaoyang", role="county", region="110105")
    csrf = sign_in(client, gd_admin)
    for username in ("clerk_chaoyang", "admin_cn"):
        refused = _post(client, csrf, _id_of(hub, username), "lock")
        assert refused.status_code == 404  # the same as a user that does not exist
    assert _post(client, csrf, uuid.uuid4(), "lock").status_code == 404
    assert _post(client, csrf, _id_of(hub, gd_admin), "lock").status_code == 422
    with hub.sessions() as session:
        assert all(u.active for u in session.scalars(select(ConsoleUser)))
    assert not audit_rows(hub, "console.user_locked")


def test_locking_needs_the_form_token_and_an_admin(
    client: TestClient, other_client: TestClient, hub: HubContext, gd_admin: str, nanshan_clerk: str
) -> None:
    sign_in(client, gd_admin)
    clerk = _id_of(hub, nanshan_clerk)
    assert _post(client, "forged", clerk, "lock").status_code == 403
    csrf = sign_in(other_client, nanshan_clerk)
    assert other_client.get("/console/users").status_code == 403
    assert _post(other_client, csrf, _id_of(hub, gd_admin), "lock").status_code == 403
    with transaction(hub.sessions) as session:
        assert all(u.active for u in session.scalars(select(ConsoleUser)))
    assert (
        client.post(
            "/console/users/not-a-uuid/lock",
            data={"csrf_token": csrf_from(client.get("/console").text)},
        ).status_code
        == 422
    )


def test_the_operator_unlocks_an_account_an_admin_locked(
    client: TestClient, hub: HubContext, gd_admin: str, nanshan_clerk: str
) -> None:
    csrf = sign_in(client, gd_admin)
    assert _post(client, csrf, _id_of(hub, nanshan_clerk), "lock").status_code == 303
    with transaction(hub.sessions) as session:
        auth.unlock(session, nanshan_clerk)
    with hub.sessions() as session:
        user = session.get(ConsoleUser, _id_of(hub, nanshan_clerk))
        assert user is not None and user.active and user.locked_by is None

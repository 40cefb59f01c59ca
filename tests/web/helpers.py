"""Console accounts and signed-in browsers for the console's tests."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import AuditEvent
from exchange_hub.web import auth

PASSWORD = "correct horse battery"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(
    hub: HubContext,
    username: str,
    *,
    role: str = "admin",
    region: str = "440000",
    person_data: bool = False,
) -> str:
    with transaction(hub.sessions) as session:
        auth.add_user(
            session,
            username=username,
            password=PASSWORD,
            role=role,
            region=region,
            person_data_grant=person_data,
        )
    return username


def csrf_from(html: str) -> str:
    found = _CSRF_FIELD.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def post_sign_in(client: TestClient, username: str, password: str = PASSWORD, **extra: str):
    form_page = client.get("/console/sign-in")
    data = {
        "username": username,
        "password": password,
        "csrf_token": csrf_from(form_page.text),
        **extra,
    }
    return client.post("/console/sign-in", data=data, follow_redirects=False)


def sign_in(client: TestClient, username: str) -> str:
    """Sign in and return the session's CSRF token (read from a page's sign-out form)."""
    response = post_sign_in(client, username)
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/console").text)


def audit_rows(hub: HubContext, action: str) -> list[AuditEvent]:
    with hub.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query).all())

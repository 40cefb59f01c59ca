"""Console sessions live in the database (``web.auth``): behind a load balancer without
sticky sessions, a browser signed in on one node is signed in on every node (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from tests.fixtures.hub import client_for, make_context
from tests.web.helpers import PASSWORD, csrf_from


@pytest.fixture
def node_b(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A second node: another app instance with its own engine, on the same database and
    key ring (its data directory) as the ``client`` fixture's."""
    other: HubContext = make_context(database_url, tmp_path / "data")
    try:
        with client_for(other) as client:
            yield client
    finally:
        other.dispose()


def test_a_session_made_on_one_node_works_on_the_other(
    client: TestClient, node_b: TestClient, gd_admin: str
) -> None:
    form = client.get("/console/sign-in")  # the form from node A, posted to node B
    data = {"username": gd_admin, "password": PASSWORD, "csrf_token": csrf_from(form.text)}
    node_b.cookies = client.cookies
    signed_in = node_b.post("/console/sign-in", data=data, follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text
    client.cookies = node_b.cookies
    assert client.get("/console/audit", follow_redirects=False).status_code == 200
    token = csrf_from(node_b.get("/console").text)
    session_cookie = dict(node_b.cookies)
    signed_out = client.post("/console/sign-out", data={"csrf_token": token},
                             follow_redirects=False)  # fmt: skip
    assert signed_out.status_code == 303
    node_b.cookies = session_cookie  # the cookie as it was: the session ended on A is gone on B
    after = node_b.get("/console/audit", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/console/sign-in")

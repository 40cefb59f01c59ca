"""The county clerk's to-do list: receipt and answer through the exchange service, CSRF, scope."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.models import Message
from tests.web import factories
from tests.web.helpers import audit_rows, make_user, sign_in


@pytest.fixture
def query_to_nanshan(hub: HubContext, console_day: datetime) -> uuid.UUID:
    return factories.send_query(hub, to="440305", seq="201")


def _message(hub: HubContext, message_id: uuid.UUID) -> Message:
    with hub.sessions() as session:
        found = session.get(Message, message_id)
        assert found is not None
        return found


def test_the_clerk_sees_the_inbox_by_deadline_with_person_data_masked(
    client: TestClient,
    hub: HubContext,
    console_day: datetime,
    nanshan_clerk: str,
    query_to_nanshan: uuid.UUID,
) -> None:
    later = factories.send_query(hub, to="440305", seq="202", at=factories.last_month_moment())
    sign_in(client, nanshan_clerk)
    page = client.get("/console/todo")
    assert page.status_code == 200
    rows = re.findall(r'data-message="([0-9a-f-]+)"', page.text)
    assert rows == [str(later), str(query_to_nanshan)]  # the overdue one first
    assert "已超期" in page.text
    assert factories.id_number("440305", "201") not in page.text
    assert "440305********" in page.text
    assert _message(hub, query_to_nanshan).state == "delivered"  # pulled = delivered


def test_a_clerk_with_the_grant_sees_the_subject_and_the_read_is_audited(
    client: TestClient, hub: HubContext, query_to_nanshan: uuid.UUID
) -> None:
    make_user(hub, "clerk_full", role="county", region="440305", person_data=True)
    sign_in(client, "clerk_full")
    page = client.get("/console/todo").text
    assert factories.id_number("440305", "201") in page and "王小明" in page
    rows = audit_rows(hub, "console.person_data_read")
    assert len(rows) == 2  # the landing page after sign-in, and this one
    assert rows[-1].detail == {"page": "todo", "count": 1, "ids": [str(query_to_nanshan)]}


def test_receipt_then_answer_from_the_to_do_page(
    client: TestClient, hub: HubContext, nanshan_clerk: str, query_to_nanshan: uuid.UUID
) -> None:
    token = sign_in(client, nanshan_clerk)
    path = f"/console/todo/{query_to_nanshan}"
    received = client.post(f"{path}/receipt", data={"csrf_token": token}, follow_redirects=False)
    assert received.status_code == 303
    assert received.headers["location"] == "/console/todo?done=received"
    assert _message(hub, query_to_nanshan).state == "received"
    assert "已确认接收" in client.get(received.headers["location"]).text
    answered = client.post(
        f"{path}/answer",
        data={"csrf_token": token, "result": "not_found", "note": "本县无此人户籍"},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    message = _message(hub, query_to_nanshan)
    assert (message.state, message.feedback_result) == ("answered", "not_found")
    assert str(query_to_nanshan) not in client.get("/console/todo").text
    again = client.post(f"{path}/answer", data={"csrf_token": token, "result": "found"})
    assert again.status_code == 409
    assert "text/html" in again.headers["content-type"]


def test_a_mismatch_answer_carries_the_differing_field(
    client: TestClient, hub: HubContext, nanshan_clerk: str, query_to_nanshan: uuid.UUID
) -> None:
    token = sign_in(client, nanshan_clerk)
    path = f"/console/todo/{query_to_nanshan}/answer"
    incomplete = client.post(path, data={"csrf_token": token, "result": "mismatch"})
    assert incomplete.status_code == 422
    assert "differences" in incomplete.text
    assert _message(hub, query_to_nanshan).state != "answered"
    data = {"csrf_token": token, "result": "mismatch", "difference_field": "name",
            "difference_recorded": "王晓明", "difference_reported": "王小明"}  # fmt: skip
    assert client.post(path, data=data, follow_redirects=False).status_code == 303
    assert _message(hub, query_to_nanshan).feedback_result == "mismatch"


@pytest.mark.parametrize(
    ("data", "field"),
    [({"result": "perhaps"}, "result"), ({}, "result"),
     ({"result": "multiple_candidates", "candidates": "1"}, "candidates"),
     ({"result": "found", "note": "x" * 1001}, "note")],
)  # fmt: skip
def test_bad_answers_are_refused_naming_the_field(
    client: TestClient, hub: HubContext, nanshan_clerk: str, query_to_nanshan: uuid.UUID,
    data: dict[str, str], field: str,
) -> None:  # fmt: skip
    token = sign_in(client, nanshan_clerk)
    response = client.post(
        f"/console/todo/{query_to_nanshan}/answer", data={"csrf_token": token, **data}
    )
    assert response.status_code == 422
    assert field in response.text
    assert _message(hub, query_to_nanshan).state != "answered"


def test_actions_without_the_csrf_token_are_refused(
    client: TestClient, hub: HubContext, nanshan_clerk: str, query_to_nanshan: uuid.UUID
) -> None:
    sign_in(client, nanshan_clerk)
    path = f"/console/todo/{query_to_nanshan}"
    assert client.post(f"{path}/receipt").status_code == 403
    assert client.post(f"{path}/receipt", data={"csrf_token": "x"}).status_code == 403
    assert client.post(f"{path}/answer", data={"result": "found"}).status_code == 403
    assert _message(hub, query_to_nanshan).state == "delivered"  # the landing page pulled it


def test_another_countys_message_does_not_exist_for_the_clerk(
    client: TestClient, hub: HubContext, nanshan_clerk: str
) -> None:
    elsewhere = factories.send_query(hub, to="440106", seq="203")
    token = sign_in(client, nanshan_clerk)
    assert str(elsewhere) not in client.get("/console/todo").text
    response = client.post(f"/console/todo/{elsewhere}/receipt", data={"csrf_token": token})
    assert response.status_code == 404
    assert _message(hub, elsewhere).state == "submitted"  # never pulled by Nanshan
    bad = client.post("/console/todo/not-a-uuid/receipt", data={"csrf_token": token})
    assert bad.status_code == 422 and "message_id" in bad.text


def test_admins_have_no_to_do_list(client: TestClient, gd_admin: str) -> None:
    token = sign_in(client, gd_admin)
    assert client.get("/console/todo").status_code == 403
    response = client.post(f"/console/todo/{uuid.uuid4()}/receipt", data={"csrf_token": token})
    assert response.status_code == 404


def test_a_clerk_lands_on_the_to_do_list(client: TestClient, nanshan_clerk: str) -> None:
    sign_in(client, nanshan_clerk)
    response = client.get("/console", follow_redirects=False)
    assert response.headers["location"] == "/console/todo"

"""The change feed: a sync job that crashes resumes from its stored cursor and gets
every change exactly once; it sees only what concerns its county."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from tests.exchange.helpers import act, send_query
from tests.fixtures.hub import MemberKey, make_member


class Crash(Exception):
    pass


@dataclass
class SyncStore:
    """The county system's own database: applied changes and the cursor, committed together."""

    cursor: str = "0"
    applied: list[int] = field(default_factory=list)


def sync(
    client: TestClient,
    member: MemberKey,
    store: SyncStore,
    *,
    page: int = 3,
    crash_at: int | None = None,
) -> None:
    """Pull pages until empty; each page is applied and its cursor stored in one step."""
    while True:
        response = client.get(
            f"/api/v1/changes?since={store.cursor}&limit={page}", headers=member.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if not body["items"]:
            assert body["next_cursor"] == store.cursor
            return
        pending = []
        for item in body["items"]:
            if crash_at is not None and len(store.applied) + len(pending) == crash_at:
                raise Crash  # nothing of this page is committed
            pending.append(item["seq"])
        store.applied.extend(pending)
        store.cursor = body["next_cursor"]


def traffic(client: TestClient, a: MemberKey, b: MemberKey) -> None:
    first = send_query(client, b, a)
    second = send_query(client, a, b)
    act(client, a, first, "receipt")
    act(client, a, first, "feedback", result="found")
    act(client, a, second, "withdraw")


def all_seqs(client: TestClient, member: MemberKey) -> list[int]:
    body = client.get("/api/v1/changes?limit=1000", headers=member.headers).json()
    return [i["seq"] for i in body["items"]]


def test_sync_resumes_after_a_crash_with_every_change_exactly_once(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    traffic(client, county_a, county_b)
    store = SyncStore()
    with pytest.raises(Crash):
        sync(client, county_a, store, crash_at=4)
    assert store.applied and len(store.applied) < 4
    traffic(client, county_a, county_b)  # more changes commit while the job is down
    sync(client, county_a, store)
    assert store.applied == all_seqs(client, county_a)
    assert len(set(store.applied)) == len(store.applied)
    traffic(client, county_a, county_b)
    sync(client, county_a, store)  # the next nightly run picks up only the new ones
    assert store.applied == all_seqs(client, county_a)


def test_each_county_sees_only_its_own_changes(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    county_c = make_member(hub, role="county", region="440106")
    send_query(client, county_a, county_c)
    send_query(client, county_b, county_a)
    a_feed = client.get("/api/v1/changes", headers=county_a.headers).json()["items"]
    b_feed = client.get("/api/v1/changes", headers=county_b.headers).json()["items"]
    c_feed = client.get("/api/v1/changes", headers=county_c.headers).json()["items"]
    assert len(a_feed) == 2 and len(b_feed) == 1 and len(c_feed) == 1
    assert b_feed[0]["object_type"] == "message" and b_feed[0]["action"] == "submitted"
    assert "subject" not in str(b_feed)  # no person data in the feed


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "9" * 30])
def test_bad_cursors_are_refused(client: TestClient, county_a: MemberKey, since: str) -> None:
    response = client.get(f"/api/v1/changes?since={since}", headers=county_a.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "since"


def test_inbox_cursor_pages_without_repeats_in_deadline_order(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    ids = {
        urgency: send_query(client, county_b, county_a, urgency=urgency)
        for urgency in ("normal", "urgent", "certificate")
    }
    seen: list[str] = []
    cursor = ""
    while True:
        page = client.get(f"/api/v1/inbox?limit=1&cursor={cursor}", headers=county_a.headers).json()
        seen += [i["id"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert seen == [ids["certificate"], ids["urgent"], ids["normal"]]
    arrival = client.get("/api/v1/inbox?order=arrival", headers=county_a.headers).json()
    assert [i["id"] for i in arrival["items"]] == [ids["normal"], ids["urgent"], ids["certificate"]]
    only_notifications = client.get("/api/v1/inbox?kind=notification", headers=county_a.headers)
    assert only_notifications.json()["items"] == []
    delivered = client.get("/api/v1/inbox?state=delivered", headers=county_a.headers).json()
    assert len(delivered["items"]) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=garbage", "cursor"),
        ("state=lost", "state"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
    ],
)
def test_bad_inbox_parameters_are_refused(
    client: TestClient, county_a: MemberKey, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/inbox?{query}", headers=county_a.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field

"""Routing by record and the inflow hook, through the records API (SPEC §2, §3)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from tests.exchange.helpers import id_number, post_message, query_body
from tests.fixtures.hub import MemberKey


def record(kind: str, number: str, *, hukou: str | None, residence: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": kind,
        "person": {"id_number": number, "name": "李娜", "sex": "F"},
        "residence_region": residence,
        "moved_on": "2026-10-02",
    }
    if hukou:
        body["hukou_region"] = hukou
    if kind == "inflow":
        body["certificate_checked"] = True
    return body


def push_record(client: TestClient, member: MemberKey, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/records", json=body, headers=member.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def inbox(client: TestClient, member: MemberKey) -> list[dict[str, Any]]:
    return client.get("/api/v1/inbox?order=arrival", headers=member.headers).json()["items"]  # type: ignore[no-any-return]


def test_query_is_routed_to_the_hukou_county_of_the_record(
    client: TestClient, county_a: MemberKey, county_b: MemberKey, hub: HubContext
) -> None:
    """Born in Shenzhen (440305 prefix) but registered in Chaoyang: the record wins."""
    number = id_number("440305", seq="776")
    push_record(client, county_a, record("outflow", number, hukou="110105", residence="440305"))
    county_c = _county(hub, "440106")
    accepted = post_message(client, county_c, query_body(subject_id=number))
    assert (accepted["to_region"], accepted["routed_by"]) == ("110105", "record")


def test_without_a_record_the_id_prefix_routes(
    client: TestClient, county_a: MemberKey, hub: HubContext
) -> None:
    county_c = _county(hub, "440106")
    accepted = post_message(client, county_c, query_body(subject_id=id_number("440305", seq="778")))
    assert (accepted["to_region"], accepted["routed_by"]) == ("440305", "id_prefix")


def test_inflow_without_outflow_notifies_and_queries_the_origin(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    number = id_number("110105", seq="500")
    created = push_record(
        client, county_b, record("inflow", number, hukou="110105", residence="440305")
    )
    items = inbox(client, county_a)
    assert sorted((i["kind"], i["subtype"]) for i in items) == [
        ("notification", "inflow"), ("query", "normal")
    ]  # fmt: skip
    notice = next(i for i in items if i["kind"] == "notification")
    assert notice["from_region"] == "440305"
    assert notice["content"]["subject"]["id_number"] == number
    assert notice["content"]["inflow"]["residence_region"] == "440305"
    assert notice["content"]["record_id"] == created["id"]
    query = next(i for i in items if i["kind"] == "query")
    assert query["needs_feedback"] and "inflow" in query["purpose"]
    sent = client.get("/api/v1/outbox", headers=county_b.headers).json()["items"]
    assert len(sent) == 2


def test_inflow_with_a_matching_outflow_only_notifies(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    number = id_number("110105", seq="502")
    push_record(client, county_a, record("outflow", number, hukou="110105", residence="440305"))
    push_record(client, county_b, record("inflow", number, hukou="110105", residence="440305"))
    assert [(i["kind"], i["subtype"]) for i in inbox(client, county_a)] == [
        ("notification", "inflow")
    ]


def test_inflow_without_hukou_region_is_routed_by_the_id_prefix(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    number = id_number("110105", seq="506")
    push_record(client, county_b, record("inflow", number, hukou=None, residence="440305"))
    assert len(inbox(client, county_a)) == 2


def test_inflow_from_the_same_county_sends_nothing(client: TestClient, county_b: MemberKey) -> None:
    number = id_number("440305", seq="508")
    push_record(client, county_b, record("inflow", number, hukou="440305", residence="440305"))
    assert client.get("/api/v1/outbox", headers=county_b.headers).json()["items"] == []


def _county(hub: HubContext, region: str) -> MemberKey:
    from tests.fixtures.hub import make_member

    return make_member(hub, role="county", region=region)


def test_a_hub_built_without_the_records_directory_knows_nobody(
    client: TestClient, county_a: MemberKey, hub: HubContext
) -> None:
    """The exchange asks the directory it is given; without one it routes by the prefix."""
    from exchange_hub.context import build_context
    from tests.fixtures.hub import client_for

    number = id_number("440305", seq="780")
    push_record(client, county_a, record("outflow", number, hukou="110105", residence="440305"))
    county_c = _county(hub, "440106")
    bare = build_context(hub.settings)
    try:
        with client_for(bare) as bare_client:
            accepted = post_message(bare_client, county_c, query_body(subject_id=number))
    finally:
        bare.dispose()
    assert (accepted["to_region"], accepted["routed_by"]) == ("440305", "id_prefix")


def test_the_exchange_imports_nothing_from_records() -> None:
    """Dependencies point one way (issue 16): records call the exchange, never back."""
    import ast
    from pathlib import Path

    import exchange_hub.exchange

    found = []
    for path in Path(exchange_hub.exchange.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            found += [(path.name, n) for n in names if n.startswith("exchange_hub.records")]
    assert found == []

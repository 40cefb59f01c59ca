"""Hostile input a fuzzer finds first: NUL characters and integers beyond 64 bits (SPEC §8).

PostgreSQL refuses NUL (0x00) in text and integers beyond ``bigint``; the
hub must turn both into a 4xx problem document naming the field, never a
500. Each probe goes to a real hub process; all are collected, then judged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from tests.fixtures.hub import MemberKey
from tests.reliability.harness import HubServer, add_member, is_problem, running_hub
from tests.reliability.summary import Figures
from tests.reliability.workload import People, outflow

PEOPLE = People(seed=5)
BEYOND_BIGINT = str(2**64)


def query(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "query",
        "urgency": "normal",
        "subject": {"id_number": PEOPLE.born_in("440305").id_number},
        "to_region": "440305",
        "purpose": "verify household registration for public services",
        **extra,
    }


def probes() -> list[tuple[str, str, str, Any]]:
    """(who, method, path, JSON body) — every one must be answered with a 4xx problem."""
    record = outflow(PEOPLE.born_in("110105"), "110105", "440305", date(2026, 10, 1))
    record["person"]["name"] = "张\u0000三"
    member = {"name": "福田\u0000", "role": "county", "region": "440304"}
    return [
        ("county", "POST", "/api/v1/messages", query(purpose="verify\u0000 the household")),
        ("county", "POST", "/api/v1/messages", query(case_ref="NS-\u0000-1")),
        ("county", "POST", "/api/v1/messages", query(note="see\u0000 attachment")),
        ("county", "POST", "/api/v1/records", record),
        ("admin", "POST", "/api/v1/members", member),
        ("admin", "GET", f"/api/v1/audit?cursor={BEYOND_BIGINT}", None),
        ("admin", "GET", "/api/v1/audit?action=%00", None),
        ("admin", "GET", "/api/v1/audit?outcome=%00", None),
        ("admin", "GET", f"/api/v1/push-deliveries?after_id={BEYOND_BIGINT}", None),
        ("county", "GET", f"/api/v1/changes?since={BEYOND_BIGINT}", None),
        ("county", "GET", "/api/v1/inbox?cursor=%00", None),
        ("admin", "GET", "/api/v1/regions?parent=%00", None),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def served(
    pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HubServer, dict[str, MemberKey]]]:
    with running_hub(pg_admin_url, tmp_path_factory.mktemp("hostile") / "hub") as server:
        members = {
            "county": add_member(server, role="county", region="110105"),
            "admin": add_member(server, role="admin", region="440000"),
        }
        add_member(server, role="county", region="440305")
        yield server, members


def test_nul_characters_and_huge_integers_are_refused_not_500(
    served: tuple[HubServer, dict[str, MemberKey]], figures: Figures
) -> None:
    server, members = served
    wrong = []
    for who, method, path, body in probes():
        figures.faults += 1
        try:  # a connection of its own: a 500 makes uvicorn drop the connection
            response = httpx.request(
                method, server.url + path, json=body, headers=members[who].headers, timeout=15
            )
        except httpx.TransportError as exc:
            wrong.append(f"{method} {path} {str(body)[:60]!r} → {exc!r}")
            continue
        refused = 400 <= response.status_code < 500 and is_problem(response)
        if not (refused or response.status_code in (200, 201)):
            wrong.append(f"{method} {path} {str(body)[-60:]!r} → {response.status_code}")
    assert not wrong, f"{len(wrong)} hostile inputs were not refused cleanly:\n" + "\n".join(wrong)

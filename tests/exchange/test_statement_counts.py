"""The SQL statements of one message and of one whole cycle stay within the figures
reached in issue 18 (the aim: a message in at most 6, a cycle in at most 15).

Counts are deterministic, unlike times: a change that adds a statement to the
hot path fails here and has to say why (``bench/_statements.py`` counts).
"""

from __future__ import annotations

from bench._statements import count_cycle
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from tests.fixtures.hub import MemberKey

# Statements the hub executes per step (an executemany counts once); reached in issue 18
# from 6 / 11 / 6 (23 per cycle) by appending the change feed and taking the journal lock in
# one statement, reading the audit chain's last link inside its insert and the stored row
# from its RETURNING. SQLite inserts the two events of an answer one by one.
MOST = {
    "postgresql": {"post": 5, "pull": 7, "feedback": 5, "cycle": 17},
    "sqlite": {"post": 5, "pull": 7, "feedback": 6, "cycle": 18},
}


def test_one_message_and_one_cycle_stay_within_their_statements(
    client: TestClient, hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    counts = count_cycle(client, hub.engine, (county_a.api_key, county_b.api_key, county_b.region))
    sql = {step: figures["sql"] for step, figures in counts.items()}
    most = MOST[hub.engine.dialect.name]
    assert all(sql[step] <= most[step] for step in most), sql
    assert sql["post"] <= 6, "the aim of issue 18: a message in at most 6 statements"
    # Per request, one transaction for the key look-up and one for the work: each opens and ends.
    assert all(counts[step]["transactions"] == 4 for step in ("post", "pull", "feedback")), counts

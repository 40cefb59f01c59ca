"""How many SQL statements the hub runs for one message and for one whole cycle.

Counted in-process, on the hub's own engine, through SQLAlchemy's engine and
pool events, around requests made through the ASGI app (no server, no
network): the count is deterministic, unlike a time, so a test can hold it
(``tests/exchange/test_statement_counts.py``) and ``bench/roundtrip.py`` prints it.

Per request, four figures:

- ``sql``: statements the hub executes (``before_cursor_execute``; an
  executemany counts once; SQLite's ``BEGIN IMMEDIATE`` is left to ``transactions``);
- ``server``: what the server runs, an executemany counted once per row set;
- ``transactions``: BEGINs plus COMMITs and ROLLBACKs (psycopg sends BEGIN
  itself, before the first statement of a transaction);
- ``checkouts``: connections taken from the pool; on PostgreSQL each reused
  one is first pinged (``pool_pre_ping``, a ``SELECT 1`` the events do not see).

A *cycle* is what ``bench/roundtrip.py`` drives: a county posts a query, the
origin pulls its inbox (which holds that one message) and answers it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.engine.interfaces import ExecuteStyle

STEPS = ("post", "pull", "feedback")


@dataclass
class StatementCounter:
    """Counts on one engine while ``counting`` is on; ``take`` returns and resets them."""

    engine: Engine
    counts: Counter[str]
    texts: list[str]

    def take(self) -> dict[str, int]:
        taken = {k: self.counts[k] for k in ("sql", "server", "transactions", "checkouts")}
        self.counts.clear()
        self.texts.clear()
        return taken


@contextmanager
def counting(engine: Engine) -> Iterator[StatementCounter]:
    """Listen to ``engine`` for the block's duration."""
    counter = StatementCounter(engine, Counter(), [])

    def on_execute(_c: Any, _cur: Any, statement: str, params: Any, ctx: Any, _m: bool) -> None:
        if statement.lstrip().upper().startswith("BEGIN"):
            return  # SQLite's BEGIN IMMEDIATE, issued from the "begin" event counted below
        counter.counts["sql"] += 1
        # A true executemany runs once per row set; "insertmanyvalues" batches are one each.
        many = ctx is not None and ctx.execute_style is ExecuteStyle.EXECUTEMANY
        counter.counts["server"] += len(params) if many else 1
        counter.texts.append(statement)

    def on_transaction(_conn: Any) -> None:
        counter.counts["transactions"] += 1

    def on_checkout(*_args: Any) -> None:
        counter.counts["checkouts"] += 1

    listeners: list[tuple[Any, str, Any]] = [
        (engine, "before_cursor_execute", on_execute),
        (engine, "begin", on_transaction),
        (engine, "commit", on_transaction),
        (engine, "rollback", on_transaction),
        (engine.pool, "checkout", on_checkout),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield counter
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)


def query_json(origin: str, seq: int) -> dict[str, Any]:
    """A normal query about someone registered in ``origin`` (a valid ID number)."""
    from exchange_hub.id_numbers import expected_check_character

    body = f"{origin}19900101{seq % 1000:03d}"
    return {
        "kind": "query",
        "urgency": "normal",
        "subject": {"id_number": body + expected_check_character(body)},
        "to_region": origin,
        "purpose": "verify household registration for public services",
        "case_ref": f"bench-{seq}",
    }


def cycle_steps(
    client: TestClient, sender_key: str, origin_key: str, origin_region: str, seq: int
) -> Iterator[tuple[str, Any]]:
    """The cycle's requests, one step at a time (the caller counts between them)."""
    sender = {"Authorization": f"Bearer {sender_key}"}
    origin = {"Authorization": f"Bearer {origin_key}"}
    posted = client.post("/api/v1/messages", json=query_json(origin_region, seq), headers=sender)
    _expect(posted, 201)
    yield "post", posted
    pulled = client.get("/api/v1/inbox?state=submitted&limit=20", headers=origin)
    _expect(pulled, 200)
    items = pulled.json()["items"]
    if [item["id"] for item in items] != [posted.json()["id"]]:
        raise AssertionError(f"the inbox held {len(items)} items, not the one message posted")
    yield "pull", pulled
    answered = client.post(
        f"/api/v1/messages/{items[0]['id']}/feedback", json={"result": "found"}, headers=origin
    )
    _expect(answered, 200)
    yield "feedback", answered


@contextmanager
def _push_members_kept() -> Iterator[None]:
    """Which counties take pushes is cached for a few seconds (one look-up per county and
    process every 5 s): held for the count, so that a slow machine does not add it."""
    from exchange_hub.exchange import service

    ttl = service._PUSH_TTL_SECONDS
    service._PUSH_TTL_SECONDS = float("inf")
    try:
        yield
    finally:
        service._PUSH_TTL_SECONDS = ttl


def _expect(response: Any, status: int) -> None:
    if response.status_code != status:
        raise AssertionError(f"{response.request.url.path}: {response.status_code} {response.text}")


def count_cycle(
    client: TestClient, engine: Engine, keys: tuple[str, str, str], *, warm_up: int = 1
) -> dict[str, dict[str, int]]:
    """Statements per step of one cycle, after ``warm_up`` cycles (the first of a
    process also reads the calendar and which counties take pushes)."""
    per_step: dict[str, dict[str, int]] = {}
    with _push_members_kept(), counting(engine) as counter:
        for seq in range(warm_up):
            for _step in cycle_steps(client, *keys, seq):
                pass
        counter.take()
        for step, _response in cycle_steps(client, *keys, 999):
            per_step[step] = counter.take()
    per_step["cycle"] = {k: sum(per_step[s][k] for s in STEPS) for k in per_step["post"]}
    return per_step

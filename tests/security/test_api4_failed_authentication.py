"""OWASP API4:2023 Unrestricted Resource Consumption (issue 15, finding 9).

Wrong keys were neither limited nor summarised: 200 bad-key requests wrote
200 audit rows (each one a link of the chain, under the journal lock). Failed
authentications are now limited per client address (429 with Retry-After),
and audited once per (address, reason, interval) with a count.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange_hub import clock as hub_clock
from exchange_hub.audit import service as audit
from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent
from tests.fixtures.hub import MemberKey

ME = "/api/v1/members/me"
FLUSH_JOB = "audit.flush_refusals"


@pytest.fixture
def frozen(clock: hub_clock.Clock) -> hub_clock.Clock:
    """One instant, well inside an interval, so the counts below are exact."""
    clock.pin(datetime(2026, 11, 24, 2, 0, 1, tzinfo=UTC), tick=False)
    return clock


def bad_key(n: int) -> dict[str, str]:
    return {"Authorization": f"Bearer hub_0000000000000000_wrong{n:04d}"}


def refusals(hub: HubContext) -> list[AuditEvent]:
    with hub.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == "auth.refused")
        return list(session.scalars(query.order_by(AuditEvent.id)))


def counted(rows: list[AuditEvent]) -> int:
    return sum(int((row.detail or {}).get("count", 1)) for row in rows)


def flush(hub: HubContext) -> None:
    """Run the job as ``exchange-hub jobs run`` would (every job is listed in ``jobs``)."""
    from exchange_hub.jobs import JOBS

    assert FLUSH_JOB in JOBS, "the job that writes the interval's summary rows"
    JOBS[FLUSH_JOB](hub)


def chain_verifies(hub: HubContext) -> bool:
    with hub.sessions() as session:
        return audit.verify_chain(session, hub.keyring).ok


@pytest.fixture
def flooded(client: TestClient, frozen: hub_clock.Clock) -> Iterator[list[int]]:
    yield [client.get(ME, headers=bad_key(n)).status_code for n in range(200)]


def test_200_bad_keys_write_a_handful_of_audit_rows_whose_counts_sum_to_200(
    hub: HubContext, flooded: list[int], frozen: hub_clock.Clock
) -> None:
    assert len(refusals(hub)) == 1, "the first failure is audited at once"
    frozen.advance(timedelta(hours=1))
    flush(hub)
    rows = refusals(hub)
    assert len(rows) <= 3
    assert counted(rows) == 200
    assert {row.client for row in rows} == {"testclient"}
    assert chain_verifies(hub)


def test_the_next_failure_after_the_interval_writes_the_summary(
    client: TestClient, hub: HubContext, flooded: list[int], frozen: hub_clock.Clock
) -> None:
    frozen.advance(timedelta(hours=1))
    assert client.get(ME, headers=bad_key(200)).status_code == 401
    rows = refusals(hub)
    assert len(rows) == 3 and counted(rows) == 201
    flush(hub)  # nothing left to write
    assert counted(refusals(hub)) == 201
    assert chain_verifies(hub)


def test_repeated_bad_keys_get_429_with_retry_after(flooded: list[int]) -> None:
    assert flooded[0] == 401
    assert set(flooded) == {401, 429}
    first_429 = flooded.index(429)
    assert 5 <= first_429 <= 100, "a legitimate client's few mistakes are 401s"
    assert set(flooded[first_429:]) == {429}, "later requests stay refused"


def test_the_429_is_a_problem_document_with_retry_after(
    client: TestClient, flooded: list[int]
) -> None:
    response = client.get(ME, headers=bad_key(999))
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["field"] == "Authorization"


def test_a_valid_key_from_the_same_address_is_still_served(
    client: TestClient, county_a: MemberKey, flooded: list[int]
) -> None:
    """Members behind one NAT or proxy share an address: an attacker's wrong keys must
    not lock them out."""
    assert client.get(ME, headers=county_a.headers).status_code == 200


def test_another_address_is_not_limited(client: TestClient, flooded: list[int]) -> None:
    other = TestClient(client.app, client=("203.0.113.9", 40000))
    assert other.get(ME, headers=bad_key(1)).status_code == 401


def test_the_limit_lifts_after_the_interval(
    client: TestClient, flooded: list[int], frozen: hub_clock.Clock
) -> None:
    frozen.advance(timedelta(hours=1))
    assert client.get(ME, headers=bad_key(1)).status_code == 401


def test_failed_signatures_count_too(
    client: TestClient, hub: HubContext, frozen: hub_clock.Clock
) -> None:
    from exchange_hub import crypto
    from tests.fixtures.hub import make_member

    _, public = crypto.generate_member_keypair()
    signer = make_member(hub, role="county", region="440305", public_key=public)
    statuses = [client.get(ME, headers=signer.headers).status_code for _ in range(100)]
    assert statuses[0] == 401 and statuses[-1] == 429
    frozen.advance(timedelta(hours=1))
    flush(hub)
    rows = refusals(hub)
    assert len(rows) <= 3 and counted(rows) == 100
    assert rows[0].member_id is not None and rows[0].region == "440305"


def test_the_per_address_buckets_stay_bounded() -> None:
    """Many addresses (an IPv6 prefix holds billions) do not grow the process without
    bound; an address that keeps failing keeps its empty bucket while it is fresh."""
    from exchange_hub.ratelimits import TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(rate=30 / 300, capacity=30, now=lambda: now[0], max_keys=100)
    for n in range(1_000):
        buckets.take(f"2001:db8::{n:x}")
        now[0] += 0.001
    assert len(buckets) <= 100
    for _ in range(30):
        buckets.take("198.51.100.7")
    assert buckets.take("198.51.100.7") is not None
    for n in range(50):
        buckets.take(f"2001:db8::1:{n:x}")
    assert buckets.take("198.51.100.7") is not None


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"Authorization": "   "}])
def test_requests_without_any_credential_are_401_and_never_lock_the_address_out(
    client: TestClient, county_a: MemberKey, hub: HubContext, frozen: hub_clock.Clock,
    headers: dict[str, str],
) -> None:  # fmt: skip
    """A request with no credential guesses nothing: a crawler (or schemathesis's
    "authentication not ignored" check) must not turn a shared address's answers
    into 429s. It is still counted in the audit trail."""
    statuses = {client.get(ME, headers=headers).status_code for _ in range(200)}
    assert statuses == {401}
    assert client.get(ME, headers=bad_key(1)).status_code == 401, "guesses still have their budget"
    assert client.get(ME, headers=county_a.headers).status_code == 200
    frozen.advance(timedelta(hours=1))
    flush(hub)
    assert counted(refusals(hub)) == 201


def test_a_malformed_credential_counts_as_a_guess(
    client: TestClient, frozen: hub_clock.Clock
) -> None:
    basic = [{"Authorization": f"Basic x{n}"} for n in range(200)]
    statuses = [client.get(ME, headers=headers).status_code for headers in basic]
    assert statuses[0] == 401 and statuses[-1] == 429

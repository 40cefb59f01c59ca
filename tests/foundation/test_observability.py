"""/metrics for Prometheus (authenticated) and per-member rate limits (429)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.ratelimits import RateLimiter
from tests.fixtures.hub import MemberKey, client_for, make_context, make_member


def test_metrics_need_authentication(client: TestClient, county_a: MemberKey) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers=county_a.headers).status_code == 403


def test_metrics_count_requests_by_route_template(
    client: TestClient, admin_nation: MemberKey
) -> None:
    client.get("/api/v1/regions/110105", headers=admin_nation.headers)
    client.get("/api/v1/regions/999999", headers=admin_nation.headers)
    body = client.get("/metrics", headers=admin_nation.headers).text
    assert (
        'hub_http_requests_total{method="GET",route="/api/v1/regions/{code}",status="200"} 1.0'
        in body
    )
    assert 'route="/api/v1/regions/{code}",status="404"' in body
    assert "hub_http_request_seconds_bucket" in body
    assert "hub_inbox_depth 0.0" in body and "hub_overdue_items 0.0" in body


def test_metrics_token_works_without_a_member(database_url: str, tmp_path: Path) -> None:
    hub = make_context(database_url, tmp_path / "d", metrics_token="scrape-secret")
    try:
        with client_for(hub) as client:
            ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
            assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
    finally:
        hub.dispose()


def test_rate_limit_answers_429_with_retry_after(database_url: str, tmp_path: Path) -> None:
    hub: HubContext = make_context(database_url, tmp_path / "d", rate_limit_per_minute=60)
    try:
        member = make_member(hub)
        other = make_member(hub, region="440305")
        with client_for(hub) as client:
            # The buckets' clock stands still: on a loaded machine twelve requests can take
            # longer than the second that refills a token (a 429 would then never come).
            client.app.state.rate_limiter = RateLimiter(60, now=lambda: 1000.0)  # type: ignore[attr-defined]
            statuses = [
                client.get("/api/v1/members/me", headers=member.headers).status_code
                for _ in range(12)
            ]
            assert statuses[:10] == [200] * 10
            limited = client.get("/api/v1/members/me", headers=member.headers)
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.json()["type"].endswith("/rate-limited")
            # Another member is not affected.
            assert client.get("/api/v1/members/me", headers=other.headers).status_code == 200
    finally:
        hub.dispose()

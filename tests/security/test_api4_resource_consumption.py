"""OWASP API4:2023 Unrestricted resource consumption — request bodies (issue 15, finding 3).

The probe: 300 MB of ``application/json`` without any key, posted to the batch
endpoint, took the server from 209 MB to 767 MB — the middleware read the body
before anyone had checked who sent it. The rules these tests hold the hub to:

- no body is read before its sender is authenticated (the API key is in the
  headers): an unauthenticated request with a body gets its 401 without the
  body being read, and the server closes the connection;
- single-object endpoints take small JSON bodies (``HUB_MAX_BODY_BYTES``), counted
  while they stream in: 413 as soon as the limit is passed, whatever
  Content-Length says and without one (chunked);
- only the batch endpoint takes large bodies, streamed to disk.

Each case measures the server process's memory (RSS) at rest and at its peak
while the body streams in: it must stay within 50 MB of rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.database import PostgresTemplates, SqliteTemplates
from tests.security.live import (
    LiveHub,
    MiB,
    PeakRss,
    Streamed,
    live_hub,
    raw_exchange,
    raw_stream,
    rss_bytes,
)

BODY = 300 * MiB
ALLOWED_GROWTH = 50 * MiB
BATCH = "/api/v1/records/batch"
RECORDS = "/api/v1/records"
JSON_CHUNK = b"a" * MiB  # the inside of one long JSON string
BLANK_LINES = (b" " * 1023 + b"\n") * 1024  # NDJSON of blank lines: streamed, nothing to store
FIGURES: list[str] = []


@pytest.fixture(scope="module")
def hub(
    templates: SqliteTemplates | PostgresTemplates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveHub]:
    folder = tmp_path_factory.mktemp("api4")
    # Batch lines are checked in the request's thread: the figures are one process's.
    with live_hub(templates, folder, {"HUB_INGEST_WORKERS": "0"}) as served:
        yield served
    print("\n".join(["", "server RSS during 300 MB bodies:", *FIGURES]))


def _at_rest(hub: LiveHub) -> int:
    """RSS once the server has answered a few requests (lazy imports and caches done)."""
    for _ in range(3):
        httpx.get(hub.url + "/api/v1/members/me", headers=hub.county.headers, timeout=10)
    return rss_bytes(hub.pid)


def _post_streamed(
    hub: LiveHub, path: str, body: Streamed, headers: dict[str, str]
) -> tuple[httpx.Response | None, int, int]:
    """Post the streamed body; (the answer or None if the connection was cut, rest, peak)."""
    rest = _at_rest(hub)
    response = None
    with PeakRss(hub.pid).watching() as peak, httpx.Client(timeout=120) as client:
        try:
            response = client.post(hub.url + path, content=body, headers=headers)
        except httpx.TransportError:
            response = None  # the server closed the connection on a body it will not read
    return response, rest, peak.peak


def _judge(case: str, rest: int, peak: int, sent: int) -> None:
    FIGURES.append(
        f"  {case}: rest {rest / MiB:.0f} MB, peak {peak / MiB:.0f} MB "
        f"(+{(peak - rest) / MiB:.1f} MB), client sent {sent / MiB:.0f} MB"
    )
    assert peak - rest <= ALLOWED_GROWTH, FIGURES[-1]


def _is_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("chunked", JSON),
        ("honest Content-Length", {**JSON, "Content-Length": str(BODY)}),
    ],
)
def test_unauthenticated_300_mb_body_is_not_read(
    hub: LiveHub, case: str, headers: dict[str, str]
) -> None:
    body = Streamed(BODY, JSON_CHUNK, head=b'{"x": "')
    response, rest, peak = _post_streamed(hub, BATCH, body, headers)
    _judge(f"no key, {case}", rest, peak, body.sent)
    if response is not None:  # the answer came before the cut, or the server refused framing
        assert response.status_code in (400, 401), response.text[:300]
    # The server hung up instead of taking the body in (loopback buffers hold a few MB).
    assert body.sent < BODY // 2


def test_a_lying_content_length_does_not_let_300_mb_in(hub: LiveHub) -> None:
    """Content-Length says 1,000 bytes and 300 MB follow (a raw socket: httpx would not lie)."""
    head = (
        f"POST {BATCH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    body = Streamed(BODY, JSON_CHUNK, head=b'{"x": "')
    rest = _at_rest(hub)
    with PeakRss(hub.pid).watching() as peak:
        answer = raw_stream(hub.url, head, body)
    _judge("no key, Content-Length 1000 and 300 MB sent", rest, peak.peak, body.sent)
    assert answer.startswith((b"HTTP/1.1 401 ", b"HTTP/1.1 400 ")), answer[:200]
    assert body.sent < BODY // 2


def test_unauthenticated_body_gets_401_before_it_arrives(hub: LiveHub) -> None:
    """Only the head and a few bytes are sent: the 401 comes without waiting for the rest."""
    head = (
        f"POST {BATCH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {BODY}\r\n\r\n"
    ).encode()
    answer = raw_exchange(hub.url, head, b'{"x": "aaaa')
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b"application/problem+json" in answer
    assert b"connection: close" in answer.lower()


def test_chunked_unauthenticated_body_gets_401_before_it_arrives(hub: LiveHub) -> None:
    head = (
        f"POST {RECORDS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    answer = raw_exchange(hub.url, head, b"5\r\n[[[[[\r\n")
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]


@pytest.mark.parametrize("declared", [None, str(BODY)])
def test_oversize_json_with_a_key_is_413(hub: LiveHub, declared: str | None) -> None:
    """A valid key, 300 MB of JSON to a single-object endpoint: 413 at the limit (1 MiB)."""
    headers = {**hub.county.headers, **JSON}
    if declared is not None:
        headers["Content-Length"] = declared
    body = Streamed(BODY, JSON_CHUNK, head=b'{"kind": "')
    response, rest, peak = _post_streamed(hub, RECORDS, body, headers)
    _judge(f"county key, single-object endpoint, Content-Length {declared}", rest, peak, body.sent)
    if response is not None:
        _is_problem(response, 413)
        assert response.json()["field"] == "body"
    assert body.sent < BODY // 2


def test_oversize_chunked_json_is_refused_as_soon_as_the_limit_passes(hub: LiveHub) -> None:
    """2 MiB sent of a chunked body that would go on: the 413 comes without the rest."""
    head = (
        f"POST {RECORDS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {hub.county.api_key}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"a" * 65_536
    chunks = b'7\r\n{"x": "\r\n' + (b"10000\r\n" + piece + b"\r\n") * 32
    answer = raw_exchange(hub.url, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"application/problem+json" in answer


def test_batch_with_a_key_still_streams_300_mb(hub: LiveHub) -> None:
    headers = {**hub.county.headers, "Content-Type": "application/x-ndjson"}
    body = Streamed(BODY, BLANK_LINES)
    response, rest, peak = _post_streamed(hub, BATCH, body, headers)
    _judge("county key, batch endpoint (streamed to disk)", rest, peak, body.sent)
    assert response is not None and response.status_code == 200, response and response.text
    assert response.json()["accepted"] == 0 and response.json()["rejected_count"] == 0
    assert body.sent == BODY


def test_the_nginx_config_allows_large_bodies_only_on_the_batch_location() -> None:
    text = (Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "hub.conf").read_text()
    conf = "\n".join(line.partition("#")[0] for line in text.splitlines())
    server_level = conf.partition("location")[0]
    assert "client_max_body_size 2m;" in server_level
    batch = conf.split(f"location = {BATCH}", 1)[1].split("}", 1)[0]
    assert "client_max_body_size 2g;" in batch and "proxy_request_buffering off;" in batch
    assert conf.count("client_max_body_size 2g;") == 1

"""Static files go gzipped to a client that accepts it, as they are to one that does not."""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

from exchange_hub.web.render import assets
from exchange_hub.web.static_files import accepts_gzip


def _raw(client: TestClient, url: str, accept_encoding: str, **headers: str):  # type: ignore[no-untyped-def]
    """The answer and its body as sent, before any decoding by the client."""
    with client.stream("GET", url, headers={"Accept-Encoding": accept_encoding, **headers}) as r:
        return r, b"".join(r.iter_raw())


@pytest.mark.parametrize("name", ["plotly.min.js", "console.css", "console.js"])
def test_gzip_when_accepted_decompresses_to_the_file(client: TestClient, name: str) -> None:
    original = assets()[name].read_bytes()
    response, body = _raw(client, f"/console/static/{name}", "gzip, deflate")
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "max-age=86400"
    assert int(response.headers["content-length"]) == len(body)
    assert gzip.decompress(body) == original
    if name == "plotly.min.js":
        assert len(body) < len(original) / 2
        assert "javascript" in response.headers["content-type"]
    again, second = _raw(client, f"/console/static/{name}", "gzip")
    assert second == body and again.headers["etag"] == response.headers["etag"]


def test_identity_without_gzip(client: TestClient) -> None:
    original = assets()["plotly.min.js"].read_bytes()
    for accept in ("identity", "gzip;q=0", "br"):
        response, body = _raw(client, "/console/static/plotly.min.js", accept)
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "max-age=86400"
        assert body == original


def test_a_cached_gzip_is_not_sent_again(client: TestClient) -> None:
    first, _body = _raw(client, "/console/static/console.css", "gzip")
    second, body = _raw(client, "/console/static/console.css", "gzip", **{
        "If-None-Match": first.headers["etag"]
    })  # fmt: skip
    assert second.status_code == 304 and body == b""


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP", True),
        ("*", True),
        ("gzip;q=0", False),
        ("*;q=0.1, gzip;q=0", False),
        ("identity", False),
        ("", False),
        ("gzip;q=abc", False),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected

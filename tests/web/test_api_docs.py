"""``/docs``: Swagger UI from the hub's own packaged copy, behind the console's CSP."""

from __future__ import annotations

import gzip
import re

import pytest
from fastapi.testclient import TestClient

from exchange_hub.web.api_docs import docs_assets
from exchange_hub.web.render import SECURITY_HEADERS

CSP = SECURITY_HEADERS["Content-Security-Policy"]


def test_docs_page_is_local_and_has_no_inline_script(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert (
        "script-src 'self'" in CSP
        and "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
    )
    assert page.headers["x-content-type-options"] == "nosniff"
    sources = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert sources and all(
        'src="/docs/static/' in attrs and not body.strip() for attrs, body in sources
    )
    linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert linked and all(url.startswith("/") and not url.startswith("//") for url in linked)


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-init.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ],
)
def test_docs_assets_answer_with_their_types(
    client: TestClient, name: str, media_type: str
) -> None:
    response = client.get(f"/docs/static/{name}", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert media_type in response.headers["content-type"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "max-age=86400"
    assert response.content == docs_assets()[name].read_bytes()


def test_the_swagger_bundle_goes_gzipped(client: TestClient) -> None:
    headers = {"Accept-Encoding": "gzip"}
    with client.stream("GET", "/docs/static/swagger-ui-bundle.js", headers=headers) as response:
        body = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == docs_assets()["swagger-ui-bundle.js"].read_bytes()


def test_the_initialiser_asks_no_outside_validator(client: TestClient) -> None:
    script = client.get("/docs/static/swagger-init.js").text
    assert "validatorUrl: null" in script and "http" not in script


def test_an_unknown_docs_file_is_a_problem(client: TestClient) -> None:
    for name in ("index.html", "..%2Fapi_docs.py", "swagger-ui.js"):
        response = client.get(f"/docs/static/{name}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")

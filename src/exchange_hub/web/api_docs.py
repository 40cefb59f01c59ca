"""``/docs``: the API document (``/openapi.json``) in Swagger UI, served by the hub itself.

FastAPI's own docs page loads Swagger UI from a CDN; an intranet hub loads
nothing from outside (SPEC §7), so its ``/docs`` is switched off in ``app.py``
and this page takes its place. Swagger UI 5 (it reads OpenAPI 3.1) comes from
the ``fastapi-swagger`` package, which ships its files; the page and its
initialiser are ours. The page carries the console's Content-Security-Policy,
which allows scripts from this origin only, so the initialiser is a file
(``docs/swagger-init.js``), not an inline script. Assets go gzipped to a
client that accepts it (``static_files``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from exchange_hub.errors import NotFound
from exchange_hub.web.render import SECURITY_HEADERS
from exchange_hub.web.static_files import static_response

router = APIRouter(include_in_schema=False)
DOCS_MAX_AGE = 86_400
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def _docs_dir() -> Path:
    return Path(str(resources.files("exchange_hub.web"))) / "docs"


@cache
def docs_assets() -> dict[str, Path]:
    """Swagger UI's files from its package, and our initialiser."""
    swagger = Path(str(resources.files("fastapi_swagger"))) / "resources"
    found = {name: swagger / name for name in SWAGGER_FILES}
    found["swagger-init.js"] = _docs_dir() / "swagger-init.js"
    return found


@router.get("/docs")
def api_docs() -> HTMLResponse:
    page = (_docs_dir() / "docs.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers=SECURITY_HEADERS)


@router.get("/docs/static/{name}")
def docs_asset(request: Request, name: str) -> Response:
    path = docs_assets().get(name)
    if path is None:
        raise NotFound(f"no documentation file {name}", field="name")
    return static_response(request, path, max_age=DOCS_MAX_AGE)

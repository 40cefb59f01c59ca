"""Static files (the console's CSS and JS, ``plotly.min.js``, Swagger UI) compressed on the wire.

``plotly.min.js`` alone is 4.8 MB; gzipped it is about 1.4 MB, which matters
on a county office's link. Each text file is compressed once, at its first
request, and the gzip kept in memory (keyed by the file's path, size and
modification time, so a reinstalled package is compressed anew): no request
after the first pays for it, and nothing large is written to disk or to the
repository. A client that does not accept gzip (RFC 9110 §12.5.3) gets the
file as it is. Both answers say ``Vary: Accept-Encoding`` so a cache keeps
them apart; ``X-Content-Type-Options: nosniff`` is the middleware's, on every
answer.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response

COMPRESSIBLE = frozenset({".js", ".css", ".html", ".json", ".svg", ".map", ".txt"})
MIN_COMPRESSED_SIZE = 1024
"""Below this, gzip's header costs more than it saves."""


@dataclass(frozen=True)
class Packed:
    """A file's gzip and the validators that go with it."""

    body: bytes
    etag: str
    last_modified: str


_packed: dict[tuple[Path, int, int], Packed] = {}
_lock = threading.Lock()


def packed(path: Path) -> Packed:
    """The gzip of ``path``, made at the first request for this version of the file."""
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    found = _packed.get(key)
    if found is not None:
        return found
    with _lock:  # two first requests at once compress once
        found = _packed.get(key)
        if found is None:
            body = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}-gzip"'
            found = Packed(body, etag, formatdate(stat.st_mtime, usegmt=True))
            for stale in [k for k in _packed if k[0] == path]:
                del _packed[stale]
            _packed[key] = found
    return found


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip: listed (or ``*``) with q > 0."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        coding, _, parameters = item.strip().partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        if coding:
            weights[coding.strip().lower()] = weight
    if "gzip" in weights:
        return weights["gzip"] > 0
    return weights.get("*", 0.0) > 0


def static_response(request: Request, path: Path, *, max_age: int) -> Response:
    """``path`` as gzip when the client accepts it and compressing pays, else as it is."""
    headers = {"Cache-Control": f"max-age={max_age}", "Vary": "Accept-Encoding"}
    compressible = path.suffix in COMPRESSIBLE and path.stat().st_size >= MIN_COMPRESSED_SIZE
    if not compressible or not accepts_gzip(request.headers.get("accept-encoding", "")):
        return FileResponse(path, headers=headers)
    found = packed(path)
    headers |= {"ETag": found.etag, "Last-Modified": found.last_modified}
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers["Content-Encoding"] = "gzip"
    return Response(found.body, media_type=media_type, headers=headers)

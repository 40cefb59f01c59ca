"""A real hub process for the security suite, and what the tests measure of it.

The hub runs as ``exchange-hub serve`` (uvicorn, one process) on 127.0.0.1 and a
free port, against a clone of the test database (SQLite or PostgreSQL), so the
memory figures are the server's own: its resident set size is read from
``/proc/<pid>/status`` while the test talks to it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.database import PostgresTemplates, SqliteTemplates
from tests.fixtures.hub import MemberKey
from tests.reliability.harness import HubServer, add_member

MiB = 1 << 20


@dataclass
class LiveHub:
    server: HubServer
    county: MemberKey
    admin: MemberKey

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int:
        assert self.server.pid is not None
        return self.server.pid


@contextlib.contextmanager
def live_hub(
    templates: SqliteTemplates | PostgresTemplates, folder: Path, settings: dict[str, str]
) -> Iterator[LiveHub]:
    """The hub serving a fresh clone of the test database, with a county and an admin."""
    with contextlib.contextmanager(templates.clone)(folder) as database_url:
        server = HubServer(database_url, folder / "hub", settings)
        server.folder.mkdir(parents=True, exist_ok=True)
        county = add_member(server, role="county", region="110105")  # writes the key ring too
        admin = add_member(server, role="admin", region="000000")
        server.start()
        try:
            yield LiveHub(server, county, admin)
        finally:
            server.stop()


def rss_bytes(pid: int) -> int:
    """The process's resident set size (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass
class PeakRss:
    """Samples a process's RSS every few milliseconds while a block runs; keeps the peak."""

    pid: int
    interval: float = 0.005
    peak: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self.samples += 1
            time.sleep(self.interval)

    @contextlib.contextmanager
    def watching(self) -> Iterator[PeakRss]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=5)
            self.peak = max(self.peak, rss_bytes(self.pid))


@dataclass
class Streamed:
    """A body produced chunk by chunk (the test never holds it); counts what left."""

    total: int
    chunk: bytes
    head: bytes = b""
    sent: int = 0

    def __iter__(self) -> Iterator[bytes]:
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.total:
            piece = self.chunk[: self.total - self.sent]
            self.sent += len(piece)
            yield piece


def raw_exchange(url: str, head: bytes, body_start: bytes, timeout: float = 10.0) -> bytes:
    """Send a request's head and the first bytes of its body, then only listen:
    whatever the server answers without the rest of the body (b"" if it waits)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + body_start)
        received = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            while b"\r\n\r\n" not in received or not _complete(received):
                data = sock.recv(65_536)
                if not data:
                    break
                received += data
        return received


def raw_stream(url: str, head: bytes, body: Streamed, timeout: float = 60.0) -> bytes:
    """Send a request's head, then the body's chunks whatever the head declared, until
    the server stops taking them; returns what the server answered (b"" if nothing)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionError, TimeoutError):
            sock.sendall(head)
            for piece in body:
                sock.sendall(piece)
        received = b""
        with contextlib.suppress(ConnectionError, TimeoutError):
            while data := sock.recv(65_536):
                received += data
        return received


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False

"""A tiny push receiver on 127.0.0.1 for delivery tests: counts, fails on demand, redirects."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """Answers 503 to the first ``fail_first`` requests (or to all, with ``fail_always``);
    ``on_request`` runs before each answer (a slow endpoint moves the hub's clock)."""

    fail_first: int = 0
    fail_always: bool = False
    redirect_to: str | None = None
    on_request: Callable[[], None] | None = None
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/inbox"

    def status_for_next(self) -> int:
        if self.redirect_to:
            return 302
        if self.fail_always or len(self.requests) < self.fail_first:
            return 503
        return 200

    def accepted(self) -> list[Received]:
        with self.lock:  # the server's threads append while a test reads
            return [r for r in self.requests if r.status == 200]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.on_request is not None:
                receiver.on_request()
            with receiver.lock:
                status = receiver.status_for_next()
                receiver.requests.append(
                    Received(self.path, dict(self.headers.items()), body, status)
                )
            self.send_response(status)
            if status == 302 and receiver.redirect_to:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def running_receiver(receiver: Receiver) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

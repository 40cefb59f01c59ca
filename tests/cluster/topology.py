"""The several-node tests' parts: ``Cluster`` (``bench._cluster``: ``deploy/cluster.sh``
driven from Python) and ``PushReceiver``, a member system's push endpoint that remembers
what was in flight when a worker died.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench._cluster import Cluster, missing_packages
from bench._support import free_port

__all__ = ["Cluster", "PushReceiver", "missing_packages"]


@dataclass
class Arrival:
    message_id: str
    started: float
    finished: float = 0.0


@dataclass
class PushReceiver:
    """A county's push endpoint on 127.0.0.1: answers 200 after ``delay`` seconds and keeps
    every arrival with its ``X-Hub-Message`` id; ``in_flight_around(moment)`` names the
    pushes being received, or answered within ``margin`` seconds, at ``moment``."""

    delay: float = 0.0
    port: int = field(default_factory=free_port)
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/push"

    def __enter__(self) -> PushReceiver:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(a.message_id for a in self.arrivals if a.finished)

    def in_flight_around(self, moment: float, margin: float = 1.0) -> set[str]:
        with self.lock:
            return {
                a.message_id for a in self.arrivals
                if a.started <= moment and (not a.finished or a.finished >= moment - margin)
            }  # fmt: skip


def _handler(receiver: PushReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            arrival = Arrival(self.headers.get("X-Hub-Message", ""), time.monotonic())
            with receiver.lock:
                receiver.arrivals.append(arrival)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(receiver.delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            arrival.finished = time.monotonic()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler

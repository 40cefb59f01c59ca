"""A member system's push endpoint on 127.0.0.1 that can go down and come back.

``down()`` closes the listening socket (the hub's connections are refused),
``failing = True`` answers 503, ``redirect_to`` answers 302 there, ``up()``
listens again on the same port. Every request is kept in arrival order with
the message id the hub sent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.reliability.harness import free_port


@dataclass
class Push:
    message_id: str
    path_qs: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class PushReceiver:
    port: int = field(default_factory=free_port)
    failing: bool = False
    redirect_to: str | None = None
    pushes: list[Push] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/push"

    def up(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def accepted(self) -> list[Push]:
        with self.lock:
            return [p for p in self.pushes if p.status == 200]


def _handler(receiver: PushReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                status = 503 if receiver.failing else 302 if receiver.redirect_to else 200
                receiver.pushes.append(
                    Push(
                        self.headers.get("X-Hub-Message", ""),
                        self.path,
                        dict(self.headers.items()),
                        body,
                        status,
                    )
                )
            self.send_response(status)
            if status == 302 and receiver.redirect_to:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler

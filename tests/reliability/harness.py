"""The reliability harness: a real hub process, its database, and clients that retry.

Everything runs on 127.0.0.1. ``HubServer`` starts ``exchange-hub serve``
(uvicorn) as a subprocess against a database of its own, and can kill it
with SIGKILL and start it again on the same port. ``RetryingClient`` is what
a careful county system does: bounded retries with back-off, the same
``Idempotency-Key`` on every attempt of one write, and a log of what the hub
acknowledged, so the test can reconcile it against the database afterwards.
Every wait here is bounded in attempts and in seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from exchange_hub import migrations_util
from exchange_hub.context import HubContext
from tests.fixtures.hub import MemberKey, make_context, make_member

BIN = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 40.0
STOP_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- databases ------------------------------------------------------------------------------
def _plain_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def create_database(admin_url: str, prefix: str = "hub_rel") -> str:
    """A fresh, migrated database on the server of ``admin_url``; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_plain_dsn(admin_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = _plain_dsn(admin_url, name)
    migrations_util.upgrade(url)
    return url


def drop_database(url: str) -> None:
    name = make_url(url).database
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(_plain_dsn(url, "postgres"), autocommit=True, connect_timeout=10) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def query_rows(
    url: str, sql: str, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Read the database directly (the reconciliation must not trust the API)."""
    with psycopg.connect(_plain_dsn(url), connect_timeout=10) as conn:
        return list(conn.execute(sql, params or {}).fetchall())  # type: ignore[arg-type]


# -- the hub process -------------------------------------------------------------------------
@dataclass
class HubServer:
    """``exchange-hub serve`` in a subprocess; SIGKILL and restart on the same port."""

    database_url: str
    folder: Path
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def keys_file(self) -> Path:
        return self.folder / "keys.json"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_DATABASE_URL=self.database_url,
            HUB_DATA_DIR=str(self.folder),
            HUB_KEYS_FILE=str(self.keys_file),
            HUB_LOG_JSON="false",
            HUB_RATE_LIMIT_PER_MINUTE="1000000",
        )
        env.update(self.settings)
        return env

    def context(self) -> HubContext:
        """An in-process hub on the same database and key ring (members, checks)."""
        overrides: dict[str, Any] = {"keys_file": self.keys_file}
        return make_context(self.database_url, self.folder, **overrides)

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        log = (self.folder / f"hub-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(BIN / "exchange-hub"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1
        self.wait_healthy()

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited with {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"hub not healthy within {timeout}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL to every hub process (the server and its workers, one process group):
        no shutdown handler runs, open transactions die with their connections."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._wait_group_gone()
        self.kills += 1

    def _wait_group_gone(self) -> None:
        """Worker processes die with the group; wait (bounded) until none is left running.

        Killed workers are re-parented and may linger as zombies (a container's
        PID 1 need not reap them); a zombie holds no socket, so it counts as gone.
        """
        assert self.process is not None
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline and _live_members(self.process.pid):
            time.sleep(0.05)

    def restart_after_kill(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._wait_group_gone()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def log_tail(self, lines: int = 30) -> str:
        logs = sorted(self.folder.glob("hub-*.log"))
        if not logs:
            return ""
        return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:])

    def tracebacks(self, limit: int = 3) -> str:
        """The ends of the last tracebacks in the hub's logs (why a 500 happened)."""
        blocks = self.logs().split("Traceback (most recent call last):")[1:]
        return "\n---\n".join(b.strip()[-1500:] for b in blocks[-limit:])

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.folder.glob("hub-*.log"))
        )


def _live_members(group: int) -> list[int]:
    """Processes of a process group that are not zombies (Linux /proc)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                live.append(int(stat.parent.name))
    return live


@contextlib.contextmanager
def running_hub(
    admin_url: str, folder: Path, settings: dict[str, str] | None = None, workers: int = 1
) -> Iterator[HubServer]:
    """A fresh database, a key ring, and the hub serving it; all removed afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    database_url = create_database(admin_url)
    server = HubServer(database_url, folder, dict(settings or {}), workers=workers)
    server.context().dispose()  # writes the key ring before the server reads it
    try:
        server.start()
        yield server
    finally:
        server.stop()
        drop_database(database_url)


def add_member(server: HubServer, **kwargs: Any) -> MemberKey:
    context = server.context()
    try:
        return make_member(context, **kwargs)
    finally:
        context.dispose()


# -- a client that retries ---------------------------------------------------------------------
class GaveUp(RuntimeError):
    """The bounded retries ran out (in attempts or seconds)."""


RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    transport_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    """"status: detail" of every 4xx/5xx answer, to tell a 503's cause in the summary."""
    longest_seconds: float = 0.0

    def merge(self, other: ClientStats) -> None:
        self.requests += other.requests
        self.retries += other.retries
        self.transport_errors += other.transport_errors
        self.statuses.update(other.statuses)
        self.refusals.update(other.refusals)
        self.longest_seconds = max(self.longest_seconds, other.longest_seconds)


class RetryingClient:
    """httpx with bounded retries; one Idempotency-Key for every attempt of a write.

    Retries on transport errors (the hub was killed mid-request), 429/502/503/504,
    and 409 "still in progress" on the idempotency key. Any other answer is
    returned to the caller, including a 500, which the tests treat as a failure.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        attempts: int = 60,
        patience_seconds: float = 90.0,
        timeout_seconds: float = 10.0,
        observe: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_seconds, connect=3.0),
            trust_env=False,
        )
        self.attempts = attempts
        self.patience = patience_seconds
        self.stats = ClientStats()
        self.observe = observe
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        sent_headers = dict(headers or {})
        if key is not None:
            sent_headers["Idempotency-Key"] = key
        deadline = time.monotonic() + self.patience
        for attempt in range(self.attempts):
            started = time.monotonic()
            response = self._attempt(method, path, json, content, sent_headers, params)
            self._note(response, time.monotonic() - started)
            if response is not None and self.observe is not None:
                self.observe(response)
            if response is not None and not _should_retry(response):
                return response
            if time.monotonic() >= deadline:
                break
            with self._lock:
                self.stats.retries += 1
            time.sleep(min(0.05 * 2**attempt, 1.0, max(0.0, deadline - time.monotonic())))
        raise GaveUp(f"{method} {path}: no final answer after {self.attempts} attempts")

    def _attempt(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | None,
        headers: dict[str, str],
        params: dict[str, Any] | None,
    ) -> httpx.Response | None:
        try:
            return self.http.request(
                method, path, json=json, content=content, headers=headers, params=params
            )
        except httpx.TransportError:
            return None

    def _note(self, response: httpx.Response | None, seconds: float) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.longest_seconds = max(self.stats.longest_seconds, seconds)
            if response is None:
                self.stats.transport_errors += 1
            else:
                self.stats.statuses[response.status_code] += 1
                if response.status_code >= 400:
                    self.stats.refusals[f"{response.status_code}: {_detail(response)}"] += 1


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))[:120]
    except ValueError:
        return response.text[:120]


def _should_retry(response: httpx.Response) -> bool:
    if response.status_code in RETRY_STATUSES:
        return True
    if response.status_code == 409:
        # Only the idempotency key's "first request still running" is worth a retry.
        with contextlib.suppress(ValueError):
            return bool(response.json().get("field") == "Idempotency-Key")
    return False


def is_problem(response: httpx.Response) -> bool:
    """An RFC 9457 problem document with the status it was sent with."""
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return False
    body = response.json()
    return all(k in body for k in ("type", "title", "status", "detail")) and (
        body["status"] == response.status_code
    )

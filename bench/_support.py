"""What every bench shares: ``--smoke``, the database it may use, and cleaning up after itself.

Smoke mode (``--smoke``) runs a bench at tiny sizes through the same code
path, end to end, in seconds: ``tests/bench/test_smoke.py`` runs every
``bench/*.py`` so, and an import or API change breaks a test instead of the
next measurement. Its figures mean nothing; the bench says so.

PostgreSQL comes from ``--admin-url``; in smoke mode, when that is not given,
from ``HUB_TEST_DATABASE_URL`` (as the test suite's). A bench that needs
PostgreSQL and has none in smoke mode prints why and exits with ``SKIPPED``
(77, automake's "skipped"), which the test turns into a pytest skip.

Whatever a bench creates (databases, server processes, temporary folders) is
removed in ``finally`` blocks, also when it fails or is stopped with SIGTERM
(``stop_on_sigterm``): the test sends SIGTERM to a bench that overruns.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "HUB_TEST_DATABASE_URL"
SKIPPED = 77
SMOKE_NOTE = (
    "smoke mode: tiny sizes, to show the bench still runs end to end; "
    "the figures and ratios below mean nothing"
)


# -- arguments -----------------------------------------------------------------------
def add_smoke_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, seconds; the figures mean nothing"
    )


def add_admin_url_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--admin-url",
        help=f"PostgreSQL to create the bench's database in (default {default}; "
        f"with --smoke, {PG_ENV} or none)",
    )
    parser.set_defaults(admin_url_default=default)


def admin_url(args: argparse.Namespace) -> str | None:
    """``--admin-url``; else in smoke mode ``HUB_TEST_DATABASE_URL`` or nothing (a
    machine with a PostgreSQL that the test run was not given stays untouched);
    else the bench's default."""
    if args.admin_url:
        return str(args.admin_url)
    if args.smoke:
        return os.environ.get(PG_ENV) or None
    return str(args.admin_url_default)


def require_postgres(args: argparse.Namespace, why: str) -> str:
    """The PostgreSQL admin URL, or exit ``SKIPPED`` saying what is missing."""
    url = admin_url(args)
    if url is None:
        bench = Path(sys.argv[0]).stem
        print(
            f"SKIPPED: bench {bench} needs PostgreSQL ({why}); "
            f"pass --admin-url or set {PG_ENV}=postgresql://…",
            flush=True,
        )
        sys.exit(SKIPPED)
    return url


def announce(args: argparse.Namespace) -> None:
    """What the run is: the machine's load, and in smoke mode that the figures mean nothing."""
    if args.smoke:
        print(SMOKE_NOTE, flush=True)
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def stop_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so that every ``finally`` runs (databases dropped,
    servers stopped, folders removed) when a test or an operator stops the bench."""

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


@contextmanager
def shielded() -> Iterator[None]:
    """Clean-up that SIGTERM does not cut short: the signal waits until the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# -- databases -----------------------------------------------------------------------
def _admin_dsn(admin_url: str) -> str:
    return make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    """A new empty database ``name`` on the server of ``admin_url``; its URL."""
    with psycopg.connect(_admin_dsn(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    with shielded(), psycopg.connect(_admin_dsn(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def scratch_name(label: str) -> str:
    """Unique per run, so that benches and test runs side by side never meet."""
    return f"hub_bench_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


@contextmanager
def scratch_database(admin_url: str, label: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the run, dropped afterwards whatever happens."""
    name = scratch_name(label)
    try:
        yield create_database(admin_url, name)
    finally:
        drop_database(admin_url, name)


@contextmanager
def hub_database(args: argparse.Namespace, folder: Path, label: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the hub under test, dropped afterwards; in smoke
    mode without PostgreSQL, a SQLite file in the run's folder."""
    admin = admin_url(args)
    if admin is None:
        print("no PostgreSQL given: the hub runs on SQLite")
        yield f"sqlite:///{folder / 'hub.db'}"
        return
    with scratch_database(admin, label) as url:
        yield url


@contextmanager
def scratch_folder(label: str) -> Iterator[Path]:
    """A temporary folder for the run, removed afterwards whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix=f"hub-bench-{label}-"))
    try:
        yield folder
    finally:
        with shielded():
            shutil.rmtree(folder, ignore_errors=True)


# -- servers -------------------------------------------------------------------------
def free_port() -> int:
    """A port nobody listens on now (the kernel's pick for port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``uvicorn target`` on 127.0.0.1 at a free port, its output kept in ``log``.

    Ready once uvicorn has said it bound the port (so an answer on the port is
    ours, not a server that took it in between) and ``ready_path`` answers
    below 500. A server that found its port taken is retried on another; any
    other failure is reported with the end of its log.
    """

    def __init__(
        self, target: str, *, env: dict[str, str], log: Path, workers: int = 1,
        ready_path: str = "/healthz",
    ) -> None:  # fmt: skip
        self.target, self.env, self.log, self.workers = target, env, log, workers
        for _attempt in range(3):
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            # Not shielded: the server would inherit SIGTERM blocked and never stop on it.
            self.process = self._spawn(port)
            try:
                if self._ready(ready_path, timeout=90):
                    return
            except BaseException:  # SIGTERM or Ctrl-C while waiting: no `with` to stop it yet
                self.stop()
                raise
            if "already in use" not in self.log_tail():
                break
        raise RuntimeError(f"{target} did not start:\n{self.log_tail()}")

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "uvicorn", self.target, "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(self.workers), "--log-level", "info",
            "--no-access-log",
        ]  # fmt: skip
        with self.log.open("wb") as out:  # each attempt logs afresh
            return subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **self.env}, stdout=out, stderr=out
            )

    def _ready(self, path: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # port taken in between, or a real failure: the log says
            if "Uvicorn running on" in self.log.read_text(errors="replace"):
                try:
                    if httpx.get(self.url + path, timeout=2).status_code < 500:
                        return True
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        self.stop()
        return False

    def processes(self) -> list[int]:
        """The server and every process it started (uvicorn's workers, batch-checking
        workers, multiprocessing's resource tracker), from /proc."""
        return process_tree(self.process.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its processes so far."""
        return sum(cpu_by_pid(self.processes()).values())

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; SIGTERM to the bench waits meanwhile."""
    with shielded():
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


# -- CPU time ------------------------------------------------------------------------
def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc (processes that ended are skipped)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue  # the thread or the process ended while we looked
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process so far (/proc/PID/stat), those still alive."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def database_backends(admin_url: str, database: str) -> list[int]:
    """The PostgreSQL server processes connected to ``database`` now (pg_stat_activity;
    the server runs on this machine, so their CPU time is in /proc)."""
    with psycopg.connect(_admin_dsn(admin_url), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
        return [row[0] for row in rows]


class CpuMeter:
    """CPU seconds spent by some processes between ``start`` and ``stop``.

    ``pids`` is asked at both ends: processes that appear in between count from
    zero; those that end in between are lost (pooled database connections and
    server workers live through a phase).
    """

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids
        self.before: dict[int, float] = {}

    def start(self) -> None:
        self.before = cpu_by_pid(self.pids())

    def stop(self) -> float:
        after = cpu_by_pid(self.pids())
        return sum(seconds - self.before.get(pid, 0.0) for pid, seconds in after.items())

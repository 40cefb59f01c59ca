"""A PgBouncer of the bench's own, in transaction pooling mode, in front of one database.

Debian's ``pgbouncer`` on 127.0.0.1 at a free port; its configuration and log
in the run's folder; stopped (SIGTERM, then SIGKILL) whatever happens. Started
as root it drops to the ``postgres`` user (PgBouncer refuses to run as root).

The hub behind it must not prepare statements on the server (a pooled server
connection serves other clients between transactions): ``HUB_DATABASE_POOLER=transaction``
(``pooler_env``), which ``db.make_engine`` turns into psycopg's ``prepare_threshold=None``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from bench._support import free_port, stop_process


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer",) if Path(p).exists()), None
    )


def pooler_env() -> dict[str, str]:
    return {"HUB_DATABASE_POOLER": "transaction"}


class PgBouncer:
    """``with PgBouncer(database_url, folder, pool_size=20) as bouncer: bouncer.url``."""

    def __init__(self, database_url: str, folder: Path, *, pool_size: int = 20) -> None:
        binary = pgbouncer_binary()
        if binary is None:
            raise FileNotFoundError("pgbouncer is not installed (Debian package pgbouncer)")
        target = make_url(database_url)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        name = target.database or "postgres"
        server = f"host={target.host or '127.0.0.1'} port={target.port or 5432} dbname={name}"
        server += f" user={target.username or 'postgres'}"
        if target.password:
            server += f" password={target.password}"
        config = folder / "pgbouncer.ini"
        config.write_text(
            f"[databases]\n{name} = {server}\n\n[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            # Clients are the bench's hub on loopback; the server connection logs in as above.
            "auth_type = any\npool_mode = transaction\n"
            f"default_pool_size = {pool_size}\nmax_client_conn = 1000\n"
            "logfile =\npidfile =\nignore_startup_parameters = extra_float_digits\n"
        )
        self.url = target.set(port=self.port).render_as_string(hide_password=False)
        command = [binary, str(config)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", _unprivileged_user()]
        self.log = folder / "pgbouncer.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=out)
        try:
            self._wait_listening(timeout=20)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited:\n{self.log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"pgbouncer did not listen:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        stop_process(self.process, timeout=10)

    def __enter__(self) -> PgBouncer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user to run pgbouncer as (postgres, nobody)")

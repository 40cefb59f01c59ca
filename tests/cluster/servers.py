"""Real servers for the several-node tests: a PostgreSQL primary and its streaming replica.

Each runs from Debian's PostgreSQL 15 binaries in a fresh folder under /tmp
(PostgreSQL refuses to run as root: as the ``postgres`` user then), on free
ports of 127.0.0.1, and is stopped and removed when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    done = subprocess.run(_as_postgres(command), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")


def require_postgres_binaries() -> None:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_basebackup").exists():
        pytest.skip(f"PostgreSQL 15's server binaries are not in {PG_BIN} (Debian postgresql-15)")


@dataclass(frozen=True)
class Pair:
    primary_port: int
    replica_port: int

    def url(self, port: int, database: str = "hub") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica(self) -> str:
        return self.url(self.replica_port)

    def wait_for_replay(self, timeout: float = 60.0) -> None:
        """Until the replica has replayed everything the primary has written."""
        with psycopg.connect(self.url(self.primary_port, "postgres"), autocommit=True) as p:
            target = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url(self.replica_port, "postgres"), autocommit=True) as r:
            while True:
                caught_up = r.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
                ).fetchone()[0]  # type: ignore[index]
                if caught_up:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError("the replica did not catch up")
                time.sleep(0.05)


def _start(data: Path, port: int, log: Path) -> None:
    _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
          "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"])  # fmt: skip


@contextlib.contextmanager
def primary_and_replica() -> Iterator[Pair]:
    """A primary (database ``hub``) and a replica made by ``pg_basebackup -R -X stream``."""
    require_postgres_binaries()
    root = Path(tempfile.mkdtemp(prefix="hub-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    primary, replica = root / "primary", root / "replica"
    pair = Pair(free_port(), free_port())
    started: list[Path] = []
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(primary), "-U", "postgres", "-A", "trust",
              "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])  # fmt: skip
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write("wal_level = replica\nmax_wal_senders = 4\nfsync = off\n"
                       "synchronous_commit = off\nfull_page_writes = off\n")  # fmt: skip
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        _start(primary, pair.primary_port, root / "primary.log")
        started.append(primary)
        with psycopg.connect(pair.url(pair.primary_port, "postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE hub")
        _run(
            [
                str(PG_BIN / "pg_basebackup"),
                "-D",
                str(replica),
                "-h",
                "127.0.0.1",
                "-p",
                str(pair.primary_port),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
            ]
        )  # fmt: skip  (a spread checkpoint waits minutes)
        _start(replica, pair.replica_port, root / "replica.log")
        started.append(replica)
        yield pair
    finally:
        for data in reversed(started):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)

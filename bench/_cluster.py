"""Driving ``deploy/cluster.sh`` from benches and tests: the whole topology on 127.0.0.1.

``Cluster`` picks free ports, starts the script in a fresh folder under /tmp (the servers
run as ``postgres`` and must enter it, so never under a private TMPDIR), reads what
``cluster.sh env`` prints, runs ``cluster.sh hub …`` commands, kills one process of it or
stops and removes it all (``destroy``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench._support import free_port

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deploy" / "cluster.sh"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# What the topology needs, and the Debian package that brings it.
NEEDED = {
    PG_BIN / "initdb": "postgresql-15",
    PG_BIN / "pg_basebackup": "postgresql-15",
    Path("/usr/sbin/pgbouncer"): "pgbouncer",
    Path("/usr/bin/redis-server"): "redis-server",
    Path("/usr/sbin/nginx"): "nginx",
}
START_TIMEOUT_SECONDS = 240


def missing_packages() -> list[str]:
    """The Debian packages whose programs are not installed (``.ci/run`` installs them)."""
    return sorted({package for path, package in NEEDED.items() if not path.exists()})


@dataclass
class Cluster:
    """``deploy/cluster.sh`` with ``api_nodes`` API processes and ``workers`` job workers;
    ``settings`` are extra HUB_* variables for every node (limits, push settings…);
    ``scratch`` trades crash safety for speed (tests), off where timings must be real."""

    api_nodes: int = 2
    workers: int = 2
    settings: dict[str, str] = field(default_factory=dict)
    scratch: bool = True  # fsync and synchronous_commit off (deploy/postgres/scratch.conf)
    folder: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="hub-cluster-", dir="/tmp"))
    )
    ports: dict[str, int] = field(init=False)
    api_ports: list[int] = field(init=False)
    started_in: float = 0.0

    def __post_init__(self) -> None:
        self.folder.chmod(0o755)
        names = ("PRIMARY_PORT", "REPLICA_PORT", "PGBOUNCER_PORT", "REDIS_PORT", "NGINX_PORT")
        self.ports = {name: free_port() for name in names}
        self.api_ports = [free_port() for _ in range(self.api_nodes)]

    # -- the script ----------------------------------------------------------------------
    def script_env(self) -> dict[str, str]:
        # The cluster's own HUB_* settings, but the installation's crypto profile: what the
        # caller runs under (HUB_CRYPTO_PROFILE=national in CI's national lane) holds for it.
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("HUB_") or name == "HUB_CRYPTO_PROFILE"}  # fmt: skip
        env.update({name: str(port) for name, port in self.ports.items()})
        env.update(
            CLUSTER_DIR=str(self.folder / "cluster"), CLUSTER_SCRATCH="1" if self.scratch else "0",
            API_PORTS=" ".join(map(str, self.api_ports)), WORKERS=str(self.workers),
            HUB_LOG_JSON="false", **self.settings,
        )  # fmt: skip
        return env

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        done = subprocess.run(
            ["bash", str(SCRIPT), *args], env=self.script_env(), capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout + done.stderr

    def start(self) -> None:
        began = time.monotonic()
        try:
            self.run("start", timeout=START_TIMEOUT_SECONDS)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            logs = self.logs()
            self.destroy()
            raise RuntimeError(f"{exc}\n{logs}") from exc
        self.started_in = time.monotonic() - began

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.run("destroy", timeout=120, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """What ``cluster.sh env`` prints: HUB_* settings, CLUSTER_URL, CLUSTER_API_URLS."""
        found = {}
        for line in self.run("env").splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                found[name] = shlex.split(value)[0] if value else ""
        return found

    def hub(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """An ``exchange-hub`` command against the cluster (``cluster.sh hub …``)."""
        return subprocess.run(
            ["bash", str(SCRIPT), "hub", *args], env=self.script_env(), capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip

    def logs(self, tail: int = 30) -> str:
        folder = self.folder / "cluster" / "logs"
        parts = []
        for log in sorted(folder.glob("*.log")) if folder.exists() else []:
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    # -- the parts -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['NGINX_PORT']}"

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    def database_url(self, which: str = "PRIMARY_PORT") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports[which]}/hub"

    def pid(self, name: str) -> int:
        return int((self.folder / "cluster" / "run" / f"{name}.pid").read_text())

    def kill(self, name: str) -> None:
        """SIGKILL one process of the cluster (``api1``, ``worker2``…)."""
        os.kill(self.pid(name), signal.SIGKILL)

    def replica_caught_up(self, timeout: float = 60) -> None:
        with psycopg.connect(self.database_url(), autocommit=True) as primary:
            row = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
        assert row is not None
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.database_url("REPLICA_PORT"), autocommit=True) as replica:
            while True:
                done = replica.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
                ).fetchone()
                if done and done[0]:
                    return
                assert time.monotonic() < deadline, "the replica did not catch up"
                time.sleep(0.05)

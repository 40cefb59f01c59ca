"""A PostgreSQL cluster of the test's own (``initdb`` in a temporary folder) to restart at will.

PostgreSQL refuses to run as root, so when the suite runs as root every
server command runs as the ``postgres`` user (``runuser``) on a folder that
user owns. The cluster listens on 127.0.0.1 and a free port only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.harness import free_port

COMMAND_TIMEOUT_SECONDS = 90


def pg_bin() -> Path | None:
    """The newest installed server binaries (Debian layout first, then PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    digits = path.split("/")[4]
    return int(digits) if digits.isdigit() else 0


def can_run_cluster() -> str | None:
    """None when a cluster can be started here, else why not."""
    if pg_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    return None


@dataclass
class Cluster:
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hub-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        bin_dir = pg_bin()
        assert bin_dir is not None
        command = [str(bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=True
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.folder.chmod(0o700)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def _options(self) -> str:
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.folder} -c max_connections=100"
        )

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
            "-o", self._options(), "-w", "-t", "60", "start",
        )  # fmt: skip

    def restart_immediate(self) -> None:
        """Crash-stop (no checkpoint, clients cut off) and start again: WAL recovery."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
            "-o", self._options(), "-m", "immediate", "-w", "-t", "60", "restart",
        )  # fmt: skip

    def stop_immediate(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop_immediate()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

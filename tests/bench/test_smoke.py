"""Every bench still runs: each ``bench/*.py`` in ``--smoke`` mode, as a subprocess.

Benches are found by globbing, so a new one is covered without touching this
file (modules whose names start with ``_`` are shared helpers, not benches).
Each runs with this interpreter from the project root, with the test run's
environment: on PostgreSQL (``HUB_TEST_DATABASE_URL``) every bench runs; on
SQLite the benches that need PostgreSQL say so and exit 77, which becomes a
skip here. Nothing about speed is asserted: a smoke run's figures mean
nothing. A bench that overruns ``TIMEOUT`` is stopped (SIGTERM, so it drops
its databases and stops its servers; then SIGKILL to its process group) and
fails the test.

A bench cleans up after itself: the test also fails when it leaves a process
of its group running, a file in its temporary folder (``TMPDIR``) or, on
PostgreSQL, a database named after its process id.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from bench._support import SKIPPED, SMOKE_NOTE
from sqlalchemy.engine import make_url

from tests.fixtures.database import PG_ENV, postgres_admin_url

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted(p for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))
TIMEOUT = 180.0
GRACE = 30.0  # after SIGTERM, for the bench's own clean-up
RATIO_LINE = re.compile(r"^ratio .*\d", re.MULTILINE)
# What a bench's smoke run must also say, beyond its ratio line.
SAYS = {"nation": ("errors by step and status: none", "[preload", "[window")}


def start_bench(script: Path, tmp: Path) -> subprocess.Popen[str]:
    """``python -m bench.<name> --smoke`` with its temporary files in ``tmp``."""
    return subprocess.Popen(
        [sys.executable, "-m", f"bench.{script.stem}", "--smoke"],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the servers it starts go with it
    )


def finish(process: subprocess.Popen[str]) -> tuple[int | None, str]:
    """Exit code (None when it overran) and output."""
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        return None, stop(process)


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM first (the bench cleans up), then SIGKILL to its whole group; its output."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    return output


def group_members(group: int) -> list[int]:
    """Live processes of a process group, from /proc (zombies waiting for init don't count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:
            continue  # ended while we looked
        if int(pgrp) == group and state != "Z":
            members.append(int(stat.parent.name))
    return members


def leftover_processes(group: int) -> list[int]:
    """Processes of the bench's group still running a few seconds after it ended;
    they are killed (and the test fails)."""
    deadline = time.monotonic() + 10
    while (members := group_members(group)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return members


def leftover_databases(pid: int) -> list[str]:
    """Databases named after the bench's process id (``bench._support.scratch_name``)."""
    admin = postgres_admin_url()
    if admin is None:
        return []
    dsn = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        pattern = f"^hub_bench_[a-z]+_{pid}_"
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname ~ %s", (pattern,))
        return [row[0] for row in rows]


def test_benches_are_found() -> None:
    assert {p.stem for p in BENCHES} >= {
        "agent",
        "bulletin",
        "crypto",
        "ingest",
        "nation",
        "prepare",
        "roundtrip",
    }


@pytest.mark.parametrize("script", BENCHES, ids=lambda p: p.stem)
def test_bench_runs_in_smoke_mode(script: Path, tmp_path: Path) -> None:
    process = start_bench(script, tmp_path)
    code, output = finish(process)
    said = f"bench {script.stem} said:\n{output[-4000:]}"
    assert code is not None, f"ran over {TIMEOUT:.0f} s; {said}"
    assert not leftover_processes(process.pid), f"left processes running; {said}"
    assert not leftover_databases(process.pid), f"left its database; {said}"
    assert not list(tmp_path.iterdir()), f"left temporary files; {said}"
    if code == SKIPPED:
        assert postgres_admin_url() is None, f"skipped although {PG_ENV} is set; {said}"
        reason = next(line for line in output.splitlines() if line.startswith("SKIPPED: "))
        assert "needs PostgreSQL" in reason, said
        pytest.skip(f"{reason.removeprefix('SKIPPED: ')} (SQLite-only test run)")
    assert code == 0, f"exited {code}; {said}"
    assert SMOKE_NOTE in output, said
    assert RATIO_LINE.search(output), f"printed no ratio line; {said}"
    assert all(line in output for line in SAYS.get(script.stem, ())), said

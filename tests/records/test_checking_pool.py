"""The batch-checking processes: a dead worker is a 503 and a fresh pool, not a hang;
workers do not outlive the server; the server's main module is not re-run in them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.records import batch, checking
from tests.fixtures.hub import MemberKey
from tests.records.test_batch import BATCH, NDJSON, good


def _lines(n: int) -> bytes:
    return "\n".join(json.dumps(good(i), ensure_ascii=False) for i in range(n)).encode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone too
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def _pool_in_use(
    hub: HubContext, monkeypatch: pytest.MonkeyPatch, size: int
) -> tuple[ProcessPoolExecutor, list[int]]:
    """Every batch of the test goes to a started pool of ``size``; its worker pids."""
    monkeypatch.setattr(batch, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(batch, "CHUNK_BYTES", 4_096)
    hub.settings.ingest_workers = size
    checking.warm(size)
    workers = checking.pool(size)
    assert workers is not None
    return workers, list(workers._processes)


def _push(client: TestClient, member: MemberKey, lines: int) -> Any:
    return client.post(
        BATCH, content=_lines(lines), headers={**member.headers, "Content-Type": NDJSON}
    )


def test_a_killed_worker_is_a_503_and_the_next_batch_gets_a_new_pool(
    client: TestClient, hub: HubContext, county_a: MemberKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers, pids = _pool_in_use(hub, monkeypatch, 2)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not workers._broken and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = _push(client, county_a, 50)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    again = _push(client, county_a, 50)
    assert again.status_code == 200 and again.json()["created"] == 50
    assert checking.pool(2) is not workers


def test_workers_leave_when_the_server_is_killed() -> None:
    script = (
        "import sys, time\n"
        "from exchange_hub.records import checking\n"
        "checking.warm(2)\n"
        "print(' '.join(str(p) for p in checking.pool(2)._processes), flush=True)\n"
        "time.sleep(120)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        pids = [int(p) for p in server.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "a checking process outlived the server"
    finally:
        server.kill()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


def test_workers_do_not_rerun_the_main_module(tmp_path) -> None:  # type: ignore[no-untyped-def]
    main = tmp_path / "server_main.py"
    main.write_text(
        "import os, sys\n"
        "if os.environ.get('HUB_TEST_MAIN_RAN_IN'):\n"
        "    open(os.environ['HUB_TEST_MAIN_RAN_IN'], 'a').write(f'{os.getpid()}\\n')\n"
        "from exchange_hub.records import checking\n"
        "if __name__ == '__main__':\n"
        "    checking.warm(1)\n"
    )
    marker = tmp_path / "ran"
    env = {**os.environ, "HUB_TEST_MAIN_RAN_IN": str(marker)}
    subprocess.run([sys.executable, str(main)], env=env, timeout=60, check=True)
    ran = marker.read_text().split()
    assert len(ran) == 1, f"the main module ran again in a checking process: {ran}"


def test_the_worker_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from exchange_hub.config import Settings

    monkeypatch.setenv("HUB_INGEST_WORKERS", "")
    assert Settings().ingest_workers is None
    assert checking.worker_count(None) == max((os.cpu_count() or 1) - 1, 1)
    monkeypatch.setenv("HUB_INGEST_WORKERS", "0")
    assert Settings().ingest_workers == 0 and checking.worker_count(0) == 0
    assert checking.pool(0) is None
    assert checking.worker_count(-3) == 0


def test_a_hung_worker_is_a_503_not_a_hung_request(
    client: TestClient, hub: HubContext, county_a: MemberKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "CHUNK_TIMEOUT_SECONDS", 1.0)
    workers, pids = _pool_in_use(hub, monkeypatch, 1)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        refused = _push(client, county_a, 20)
        assert refused.status_code == 503, refused.text
        assert checking.pool(1) is not workers
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

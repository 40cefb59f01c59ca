"""The agent SIGKILLed at its worst moments, then run again, against a live hub (SQLite, or
PostgreSQL with ``HUB_TEST_DATABASE_URL``): no record pushed twice as a new version, no
file left half-moved, no change or inbox item lost or written twice, no receipt lost or
recorded twice."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange_hub.client import HubClient
from tests.agent.live import CRASHING_AGENT, County, county_agent, live_hub, run_agent, stored
from tests.exchange.helpers import notification_body, query_body
from tests.records.test_batch import person_number
from tests.reliability.harness import HubServer

pytestmark = pytest.mark.slow
COUNTIES = iter(["110101", "110102", "110106", "110107", "110108", "110109", "110111",
                 "110112", "110113", "110114", "110115", "110116", "110117", "110118",
                 "110119"])  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with live_hub(tmp_path_factory.mktemp("hub")) as hub:
        yield hub


def big_ndjson(path: Path, lines: int) -> None:
    """About 200 bytes a line: 5,000 lines are several upload chunks (256 KiB each)."""
    body = "".join(
        json.dumps({"kind": "outflow", "residence_region": "440305", "moved_on": "2026-03-01",
                    "person": {"id_number": person_number(i), "name": f"测试{i}",
                               "address": f"广东省深圳市南山区科技园{i}号"}},
                   ensure_ascii=False) + "\n"
        for i in range(lines)
    )  # fmt: skip
    path.write_text(body)


def _county(server: HubServer, tmp_path: Path) -> County:
    region = next(COUNTIES)
    return county_agent(server, tmp_path / region, region=region)


@pytest.mark.parametrize("point", ["during_upload", "after_upload", "after_answer_saved"])
def test_push_killed_then_rerun_lands_every_record_once(
    server: HubServer, tmp_path: Path, point: str
) -> None:
    county = _county(server, tmp_path)
    big_ndjson(county.outbox / "night.ndjson", 5_000)
    before = stored(server)
    killed = run_agent(county, "push", crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert (county.outbox / "night.ndjson").exists()  # not moved before the answer is kept
    rerun = run_agent(county, "push")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "推送 1 个文件（收下 5000 行，拒收 0 行）" in rerun.stdout
    records, versions = stored(server)
    assert (records - before[0], versions - before[1]) == (5_000, 0)
    assert not (county.outbox / "night.ndjson").exists()
    assert sorted(p.name for p in county.sent.iterdir()) == [
        "night.ndjson",
        "night.ndjson.report.json",
    ]
    report = json.loads((county.sent / "night.ndjson.report.json").read_text())
    assert report["hub"]["accepted"] == 5_000


@pytest.mark.parametrize("point", ["after_pull_write", "after_cursor_saved"])
def test_pull_killed_then_rerun_writes_each_change_once(
    server: HubServer, tmp_path: Path, point: str
) -> None:
    county = _county(server, tmp_path)
    sender = _county(server, tmp_path)
    big_ndjson(county.outbox / "first.ndjson", 700)  # > 1 page of changes (500)
    assert run_agent(county, "push").returncode == 0
    with HubClient(server.url, sender.member.api_key) as hub:
        for i in range(3):
            hub.send_message(query_body(to_region=county.member.region,
                                        subject_id=person_number(i)))  # fmt: skip
    killed = run_agent(county, "pull", crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert run_agent(county, "pull").returncode == 0
    assert run_agent(county, "pull").returncode == 0  # and once more: nothing new
    written = [c["seq"] for c in _lines(county.inbox, "changes-")]
    with HubClient(server.url, county.member.api_key) as hub:
        feed = [c.seq for items, _ in hub.changes() for c in items]
    assert written == feed and len(feed) > 700
    assert len({m["id"] for m in _lines(county.inbox, "inbox-")}) == 3
    assert len(_lines(county.inbox, "inbox-")) == 3


@pytest.mark.parametrize("point", ["after_inbox_write", "before_acknowledge", "after_acknowledge"])
def test_killed_around_the_receipts_then_rerun_acknowledges_each_once(
    server: HubServer, tmp_path: Path, point: str
) -> None:
    """Killed with the items on disk and their receipts not sent (or one sent, its answer
    not kept): the rerun sends the rest, the hub records each receipt once, and no
    item is written twice."""
    county, sender = _county(server, tmp_path), _county(server, tmp_path)
    with HubClient(server.url, sender.member.api_key) as hub:
        ids = [str(hub.send_message(notification_body(
            to_region=county.member.region, subject_id=person_number(i))).id)
            for i in range(3)]  # fmt: skip
    killed = run_agent(county, "pull", crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    rerun = run_agent(county, "pull")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "已接收过 0 条，已撤回 0 条，被拒 0 条" in rerun.stdout
    assert "接收 0 条" in run_agent(county, "pull").stdout  # and nothing left over
    with HubClient(server.url, county.member.api_key) as hub:
        messages = [hub.get_message(i) for i in ids]
    assert [m.state for m in messages] == ["received"] * 3
    assert [sum(e.to_state == "received" for e in m.events) for m in messages] == [1, 1, 1]
    written = [m["id"] for m in _lines(county.inbox, "inbox-")]
    assert sorted(written) == sorted(ids)


def test_killed_at_random_moments_loses_and_repeats_nothing(
    server: HubServer, tmp_path: Path
) -> None:
    """Three runs killed after a random delay each (seeded), then one to the end."""
    county = _county(server, tmp_path)
    for n in range(3):
        big_ndjson(county.outbox / f"part{n}.ndjson", 3_000)
    before = stored(server)
    rng = random.Random(21)
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, str(CRASHING_AGENT), "", "run", "--config", str(county.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 4.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    final = run_agent(county, "run")
    assert final.returncode == 0, final.stdout + final.stderr
    records, versions = stored(server)
    assert (records - before[0], versions - before[1]) == (3_000, 0)  # the same people thrice
    sent = sorted(p.name for p in county.sent.iterdir() if p.suffix == ".ndjson")
    assert sent == ["part0.ndjson", "part1.ndjson", "part2.ndjson"]
    written = [c["seq"] for c in _lines(county.inbox, "changes-")]
    with HubClient(server.url, county.member.api_key) as hub:
        feed = [c.seq for items, _ in hub.changes() for c in items]
    assert written == feed


def _lines(folder: Path, prefix: str) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(folder.glob(f"{prefix}*.ndjson"))
            for line in path.read_text().splitlines()]  # fmt: skip


class Receiver:
    """A county system's local endpoint: keeps each page once by its Idempotency-Key."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from tests.reliability.harness import free_port

        self.pages: dict[str, dict[str, Any]] = {}
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                receiver.pages.setdefault(self.headers["Idempotency-Key"], json.loads(body))
                self.send_response(204)
                self.end_headers()

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        import threading

        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_pull_to_a_local_url_resends_a_page_with_its_key_after_a_crash(
    server: HubServer, tmp_path: Path
) -> None:
    receiver = Receiver()
    try:
        region = next(COUNTIES)
        county = county_agent(server, tmp_path / region, region=region,
                              deliver_url=f"http://127.0.0.1:{receiver.port}/items")  # fmt: skip
        big_ndjson(county.outbox / "first.ndjson", 600)
        assert run_agent(county, "push").returncode == 0
        killed = run_agent(county, "pull", crash_at="after_pull_write")
        assert killed.returncode == -signal.SIGKILL
        assert run_agent(county, "pull").returncode == 0
        assert receiver.posts == len(receiver.pages) + 1  # the first page twice, one key
        delivered = sorted(item["seq"] for page in receiver.pages.values()
                           for item in page["items"])  # fmt: skip
        with HubClient(server.url, county.member.api_key) as hub:
            feed = [c.seq for items, _ in hub.changes() for c in items]
        assert delivered == feed and not list(county.inbox.iterdir())
    finally:
        receiver.close()

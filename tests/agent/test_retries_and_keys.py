"""The agent against a live hub behind a proxy that answers 429 and 503 first (retried as
``Retry-After`` says, with the same ``Idempotency-Key``), a hub that is not there (exit 2),
and signing: the right key accepted, a wrong or missing one refused in words a clerk reads."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from exchange_hub.agent import config as agent_config
from exchange_hub.agent.run import Agent
from exchange_hub.client import Ed25519Signer, RetryPolicy
from tests.agent.live import county_agent, live_hub, run_agent, stored
from tests.records.test_batch import person_number
from tests.reliability.harness import HubServer, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with live_hub(tmp_path_factory.mktemp("hub")) as hub:
        yield hub


@dataclass
class FaultyProxy:
    """Forwards to the hub, except that the first requests to a path get the planned refusal."""

    upstream: str
    plan: dict[str, list[tuple[int, str]]]
    seen: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                planned = proxy.plan.get(f"{self.command} {path}") or []
                if planned:
                    status, retry_after = planned.pop(0)
                    problem = json.dumps({"type": "x", "title": "planned", "status": status,
                                          "detail": "planned refusal"}).encode()  # fmt: skip
                    headers = {"Retry-After": retry_after,
                               "Content-Type": "application/problem+json"}  # fmt: skip
                    self._answer(status, headers, problem)
                else:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "content-length")}  # fmt: skip
                    answer = httpx.request(self.command, proxy.upstream + self.path,
                                           content=body, headers=headers, timeout=60)  # fmt: skip
                    status = answer.status_code
                    self._answer(status, {"Content-Type": answer.headers.get("content-type", "")},
                                 answer.content)  # fmt: skip
                proxy.seen.append((self.command, path, self.headers.get("Idempotency-Key"),
                                   status))  # fmt: skip

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = _any

        return Handler

    def __enter__(self) -> FaultyProxy:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def small_file(path: Path, first: int, count: int = 5) -> None:
    lines = [json.dumps({"kind": "outflow", "residence_region": "440305",
                         "person": {"id_number": person_number(first + i), "name": f"李{i}"}})
             for i in range(count)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def test_429_and_503_are_retried_as_told(server: HubServer, tmp_path: Path) -> None:
    plan = {"POST /api/v1/records/batch": [(429, "3"), (503, "2")],
            "GET /api/v1/changes": [(503, "1")]}  # fmt: skip
    with FaultyProxy(server.url, plan) as proxy:
        county = county_agent(server, tmp_path / "c", region="120101", hub_url=proxy.url)
        small_file(county.outbox / "a.ndjson", 0)
        slept: list[float] = []
        now = [0.0]

        def sleep(seconds: float) -> None:  # no real waiting: the test keeps the time
            slept.append(seconds)
            now[0] += seconds

        retry = RetryPolicy(deadline=60, monotonic=lambda: now[0], sleep=sleep,
                            random=lambda: 0.0)  # fmt: skip
        agent = Agent.open(agent_config.load(county.config), retry=retry)
        try:
            report = agent.run(["push", "pull"])
        finally:
            agent.close()
    assert report.exit_code == 0, report.summary
    assert slept == [3.0, 2.0, 1.0]  # exactly what Retry-After said (jitter drawn as zero)
    batches = [s for s in proxy.seen if s[1] == "/api/v1/records/batch"]
    assert [s[3] for s in batches] == [429, 503, 200]
    assert len({s[2] for s in batches}) == 1 and batches[0][2].startswith("batch-")
    assert report.push is not None and report.push["accepted"] == 5


def test_an_unreachable_hub_exits_2_with_a_readable_line(server: HubServer, tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    county = county_agent(server, tmp_path / "c", region="120102", hub_url=nobody,
                          deadline_seconds=2)  # fmt: skip
    small_file(county.outbox / "a.ndjson", 0)
    result = run_agent(county, "run")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "无法连接交换平台" in result.stdout and "退出码 2" in result.stdout
    assert (county.outbox / "a.ndjson").exists()  # kept for the next night


def test_a_signed_agent_is_accepted(server: HubServer, tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    county = county_agent(server, tmp_path / "c", region="120103", signer=signer)
    small_file(county.outbox / "a.ndjson", 0)
    before = stored(server)
    result = run_agent(county, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stored(server)[0] == before[0] + 5
    again = run_agent(county, "run")  # the same requests a second later: not replays
    assert again.returncode == 0, again.stdout


def test_a_wrong_key_is_refused_with_a_readable_message(server: HubServer, tmp_path: Path) -> None:
    right, wrong = Ed25519Signer.generate(), Ed25519Signer.generate()
    county = county_agent(server, tmp_path / "c", region="120104", signer=right, key_of=wrong)
    small_file(county.outbox / "a.ndjson", 0)
    result = run_agent(county, "run")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "身份验证未通过：请求签名与平台登记的公钥不符，请检查配置的签名私钥文件" in result.stdout
    assert "signature does not verify" in result.stdout
    assert (county.outbox / "a.ndjson").exists()


def test_a_signing_member_without_its_key_is_told_to_configure_it(
    server: HubServer, tmp_path: Path
) -> None:
    signer = Ed25519Signer.generate()
    county = county_agent(server, tmp_path / "c", region="120105", signer=signer)
    text = county.config.read_text().replace('signing_key_file = "signing.key"\n', "")
    county.config.write_text(text)
    result = run_agent(county, "pull")
    assert result.returncode == 3 and "必须签名" in result.stdout


def test_a_broken_configuration_exits_4(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('hub_url = "ftp://x"\ncounty = "110105"\n')
    from tests.agent.live import County

    county = County(member=None, config=config, folder=tmp_path)  # type: ignore[arg-type]
    result = run_agent(county, "run")
    assert result.returncode == 4 and "配置" in result.stdout and "hub_url" in result.stdout


def test_a_file_refused_whole_is_set_aside_and_the_others_go_on(
    server: HubServer, tmp_path: Path
) -> None:
    county = county_agent(server, tmp_path / "c", region="120106")
    (county.outbox / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (county.outbox / "columns.csv").write_text("kind,shoe_size\noutflow,42\n")
    small_file(county.outbox / "good.ndjson", 0)
    result = run_agent(county, "push")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "收下 5 行，拒收 0 行，2 个文件整个被拒，见 outbox/refused/" in result.stdout
    refused = county.outbox / "refused"
    assert sorted(p.name for p in refused.iterdir()) == [
        "broken.xlsx",
        "broken.xlsx.report.json",
        "columns.csv",
        "columns.csv.report.json",
    ]
    report = json.loads((refused / "columns.csv.report.json").read_text())
    assert report["problem"]["field"] == "header" and "整个文件被拒收" in report["note"]
    assert (county.sent / "good.ndjson").exists()
    assert run_agent(county, "push").returncode == 0  # the next night is not blocked

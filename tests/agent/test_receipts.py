"""The agent acknowledges (接收) what it pulled, against a live hub (SQLite, or PostgreSQL with
``HUB_TEST_DATABASE_URL``): the notifications end ``received`` and count in the receipt rate
(接收率); a query is left alone (it takes no receipt); ``acknowledge = false`` leaves it to a
clerk; an item acknowledged by hand meanwhile is done, one withdrawn or unknown is reported and
dropped; a hub gone during the receipts keeps them for the next run (exit 2)."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange_hub import clock
from exchange_hub.agent import config as agent_config
from exchange_hub.agent.run import Agent
from exchange_hub.agent.state_repository import State
from exchange_hub.client import HubClient, RetryPolicy
from exchange_hub.client.transport import Call
from tests.agent.live import County, county_agent, live_hub, run_agent
from tests.exchange.helpers import notification_body, query_body
from tests.records.test_batch import person_number
from tests.reliability.harness import HubServer

pytestmark = pytest.mark.slow
COUNTIES = iter(
    [
        "130102",
        "130104",
        "130105",
        "130107",
        "130108",
        "130109",
        "130110",
        "130111",
        "130121",
        "130123",
        "130125",
        "130126",
        "130127",
        "130128",
    ]
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with live_hub(tmp_path_factory.mktemp("hub")) as hub:
        yield hub


def _pair(server: HubServer, tmp_path: Path, **options: Any) -> tuple[County, County]:
    """A county running the agent, and the county that sends it messages."""
    region, other = next(COUNTIES), next(COUNTIES)
    return (county_agent(server, tmp_path / region, region=region, **options),
            county_agent(server, tmp_path / other, region=other))  # fmt: skip


def _send(sender: County, to: County, notifications: int, queries: int = 0) -> list[str]:
    with HubClient(_url(sender), sender.member.api_key) as hub:
        ids = [hub.send_message(notification_body(to_region=to.member.region,
                                                  subject_id=person_number(500 + i))).id
               for i in range(notifications)]  # fmt: skip
        ids += [hub.send_message(query_body(to_region=to.member.region,
                                            subject_id=person_number(600 + i))).id
                for i in range(queries)]  # fmt: skip
    return [str(i) for i in ids]


def _url(county: County) -> str:
    return str(agent_config.load(county.config).hub_url)


def _states(county: County, ids: list[str]) -> list[str]:
    with HubClient(_url(county), county.member.api_key) as hub:
        return [hub.get_message(i).state for i in ids]


def _receipts_sent(county: County, message_id: str) -> int:
    """How many times the hub recorded the message's receipt (its ``received`` events)."""
    with HubClient(_url(county), county.member.api_key) as hub:
        events = hub.get_message(message_id).events
    return sum(1 for e in events if e.to_state == "received")


def _last_report(county: County) -> dict[str, Any]:
    return json.loads((county.folder / "reports" / "last-run.json").read_text())  # type: ignore[no-any-return]


def _inbox_lines(county: County) -> list[str]:
    return [json.loads(line)["id"] for path in sorted(county.inbox.glob("inbox-*.ndjson"))
            for line in path.read_text().splitlines()]  # fmt: skip


def test_a_pull_acknowledges_the_notifications_and_the_receipt_rate_counts_them(
    server: HubServer, tmp_path: Path
) -> None:
    county, sender = _pair(server, tmp_path)
    notifications = _send(sender, county, notifications=3)
    query = _send(sender, county, notifications=0, queries=1)
    with HubClient(server.url, county.member.api_key) as hub:
        submitted = hub.get_message(notifications[0]).submitted_at
    period = submitted.astimezone(clock.SHANGHAI).strftime("%Y-%m")
    assert _receipt_rate(county, period) == (0, 0)  # not yet due, not received

    result = run_agent(county, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "拉取待办 4 条" in result.stdout
    assert "接收 3 条（已接收过 0 条，已撤回 0 条，被拒 0 条）" in result.stdout
    assert _states(county, notifications) == ["received"] * 3
    assert _states(county, query) == ["delivered"]  # a query takes feedback, not a receipt
    assert _receipt_rate(county, period) == (3, 3)
    assert _last_report(county)["pull"]["receipts"]["acknowledged"] == 3

    again = run_agent(county, "pull")  # nothing new: nothing sent again
    assert again.returncode == 0 and "接收 0 条" in again.stdout, again.stdout
    assert [_receipts_sent(county, i) for i in notifications] == [1, 1, 1]


def _receipt_rate(county: County, period: str) -> tuple[int, int]:
    with HubClient(_url(county), county.member.api_key) as hub:
        figures = hub.exchange_figures(county.member.region, period)
    rate = figures.total.notifications.receipt_rate
    return rate.numerator, rate.denominator


def test_with_acknowledge_off_nothing_is_acknowledged(server: HubServer, tmp_path: Path) -> None:
    county, sender = _pair(server, tmp_path, acknowledge=False)
    notifications = _send(sender, county, notifications=2)
    result = run_agent(county, "pull")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "拉取待办 2 条" in result.stdout and "接收" not in result.stdout
    assert _states(county, notifications) == ["delivered", "delivered"]
    assert "receipts" not in _last_report(county)["pull"]
    state = State(county.folder / "state.sqlite")
    try:
        assert state.pending_receipts() == []  # nothing left to send when it is turned on
    finally:
        state.close()


def test_an_agent_turned_on_later_acknowledges_what_it_wrote_before(
    server: HubServer, tmp_path: Path
) -> None:
    """Items pulled by an agent that did not acknowledge (an older one, or ``acknowledge =
    false``) are acknowledged by the first run that does, and written no second time."""
    county, sender = _pair(server, tmp_path, acknowledge=False)
    notifications = _send(sender, county, notifications=2)
    assert run_agent(county, "pull").returncode == 0
    county.config.write_text(county.config.read_text().replace("acknowledge = false",
                                                               "acknowledge = true"))  # fmt: skip
    result = run_agent(county, "pull")
    assert result.returncode == 0 and "拉取待办 0 条" in result.stdout, result.stdout
    assert "接收 2 条" in result.stdout
    assert _states(county, notifications) == ["received", "received"]
    assert sorted(_inbox_lines(county)) == sorted(notifications)


def test_acknowledged_by_hand_is_done_and_withdrawn_or_unknown_is_reported_and_dropped(
    server: HubServer, tmp_path: Path
) -> None:
    county, sender = _pair(server, tmp_path)
    by_hand, withdrawn, plain = _send(sender, county, notifications=3)
    killed = run_agent(county, "pull", crash_at="before_acknowledge")  # on disk, none sent
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    with HubClient(server.url, county.member.api_key) as hub:  # a clerk in the web console:
        hub.transport.send(Call("POST", f"/api/v1/messages/{by_hand}/receipt"))  # its own key
    with HubClient(server.url, sender.member.api_key) as hub:
        hub.withdraw(withdrawn)
    result = run_agent(county, "pull")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "接收 1 条（已接收过 1 条，已撤回 1 条，被拒 0 条）" in result.stdout
    assert _states(county, [by_hand, withdrawn, plain]) == ["received", "withdrawn", "received"]
    dropped = _last_report(county)["pull"]["receipts"]["dropped"]
    assert [(d["message_id"], d["outcome"]) for d in dropped] == [(withdrawn, "withdrawn")]
    assert "撤回" in dropped[0]["reason"] and dropped[0]["problem"]["status"] == 409

    unknown = str(uuid.UUID(int=7))  # say a state file carried over from another county
    state = State(county.folder / "state.sqlite")
    try:
        state.await_receipts([unknown])
    finally:
        state.close()
    refused = run_agent(county, "pull")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "接收 0 条（已接收过 0 条，已撤回 0 条，被拒 1 条）" in refused.stdout
    [entry] = _last_report(county)["pull"]["receipts"]["dropped"]
    assert entry["message_id"] == unknown and entry["problem"]["status"] == 404
    assert "没有找到" in entry["reason"]
    after = run_agent(county, "pull")  # dropped: never sent again
    assert after.returncode == 0 and "接收 0 条（已接收过 0 条" in after.stdout, after.stdout
    assert sorted(_inbox_lines(county)) == sorted([by_hand, withdrawn, plain])


def test_a_hub_gone_during_the_receipts_exits_2_and_the_next_run_sends_them(
    server: HubServer, tmp_path: Path
) -> None:
    county, sender = _pair(server, tmp_path)
    notifications = _send(sender, county, notifications=2)
    now = [0.0]

    def sleep(seconds: float) -> None:  # no real waiting: the test keeps the time
        now[0] += seconds

    def cable_cut(call: Call) -> None:
        if call.path.endswith("/receipt"):
            raise httpx.ConnectError("connection refused")

    retry = RetryPolicy(deadline=60, monotonic=lambda: now[0], sleep=sleep, random=lambda: 1.0)
    agent = Agent.open(agent_config.load(county.config), retry=retry)
    try:
        agent.client.transport.hooks["before_send"] = cable_cut
        report = agent.run(["pull"])
        assert report.exit_code == 2, report.summary
        assert "无法连接交换平台" in report.summary and "接收 0 条" in report.summary
        assert sorted(agent.state.pending_receipts()) == sorted(notifications)
    finally:
        agent.close()
    assert _states(county, notifications) == ["delivered", "delivered"]

    result = run_agent(county, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "拉取待办 0 条" in result.stdout and "接收 2 条" in result.stdout
    assert _states(county, notifications) == ["received", "received"]
    assert sorted(_inbox_lines(county)) == sorted(notifications)

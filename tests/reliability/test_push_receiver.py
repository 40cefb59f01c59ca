"""A member's push endpoint goes down for a while and comes back.

Two counties register push endpoints on 127.0.0.1 (the operator allows
loopback http for the test); a third county sends them queries and
notifications while two ``exchange-hub worker`` processes deliver. The
receiver is up, then refuses connections, then answers 503, then is up
again. Every item must arrive exactly once (one accepted push per message),
signed by the hub, and in the order it was sent to that member.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from exchange_hub.exchange.delivery import verify_push
from tests.reliability.harness import (
    BIN,
    HubServer,
    RetryingClient,
    add_member,
    query_rows,
    running_hub,
)
from tests.reliability.receiver import PushReceiver
from tests.reliability.summary import SUMMARY
from tests.reliability.workload import People

SENDER, RECIPIENTS = "110105", ("440305", "310115")
PUSH_SETTINGS = {
    "HUB_PUSH_ALLOWED_HOSTS": '["127.0.0.1"]',
    "HUB_PUSH_ALLOW_HTTP": "true",
    "HUB_PUSH_RETRY_BASE_SECONDS": "0.2",
    "HUB_PUSH_RETRY_CAP_SECONDS": "1.0",
    "HUB_PUSH_TIMEOUT_SECONDS": "2",
    "HUB_PUSH_BATCH_SIZE": "10",
    "HUB_WORKER_INTERVAL_SECONDS": "0.2",
}
PER_PHASE = 30  # messages sent in each of the four phases, alternating recipients
SETTLE_SECONDS = 90.0


@dataclass
class PushRun:
    sent: dict[str, list[str]] = field(default_factory=dict)
    """recipient region → message ids in the order they were sent."""
    receivers: dict[str, PushReceiver] = field(default_factory=dict)
    hub_key: str = ""
    delivery_states: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def start_workers(server: HubServer, count: int) -> list[subprocess.Popen[bytes]]:
    workers = []
    for n in range(count):
        with (server.folder / f"worker-{n}.log").open("wb") as log:
            workers.append(
                subprocess.Popen(
                    [str(BIN / "exchange-hub"), "worker", "--interval", "0.2"],
                    env=server.environment(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)


def send_phase(client: RetryingClient, people: People, run: PushRun, phase: int) -> None:
    for n in range(PER_PHASE):
        to = RECIPIENTS[n % len(RECIPIENTS)]
        ref = f"push-{phase}-{n}"
        if n % 3 == 2:
            body = {
                "kind": "notification",
                "type": "contraception",
                "subject": {"id_number": people.born_in(to).id_number},
                "to_region": to,
                "purpose": "service information for the household county",
                "contraception": {"served_on": "2026-10-02", "method": "iud"},
                "case_ref": ref,
            }
        else:
            body = {
                "kind": "query",
                "urgency": "normal",
                "subject": {"id_number": people.born_in(to).id_number},
                "to_region": to,
                "purpose": "verify household registration for public services",
                "case_ref": ref,
            }
        response = client.request("POST", "/api/v1/messages", key=ref, json=body)
        assert response.status_code == 201, response.text
        run.sent.setdefault(to, []).append(response.json()["id"])


def wait_until_delivered(run: PushRun, server: HubServer) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    expected = sum(len(ids) for ids in run.sent.values())
    while time.monotonic() < deadline:
        states = query_rows(
            server.database_url, "SELECT state, count(*) FROM push_deliveries GROUP BY state"
        )
        run.delivery_states = Counter({state: count for state, count in states})
        if run.delivery_states.get("delivered", 0) >= expected:
            return
        time.sleep(0.25)


@pytest.fixture(scope="module")
def push_run(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushRun]:
    folder = tmp_path_factory.mktemp("push") / "hub"
    run = PushRun()
    started = time.monotonic()
    with running_hub(pg_admin_url, folder, PUSH_SETTINGS) as server:
        sender = add_member(server, role="county", region=SENDER)
        client = RetryingClient(server.url, sender.api_key)
        run.hub_key = client.request("GET", "/api/v1/hub-key").json()["public_key"]
        for region in RECIPIENTS:
            member = add_member(server, role="county", region=region)
            receiver = run.receivers[region] = PushReceiver()
            receiver.up()
            own = RetryingClient(server.url, member.api_key)
            answer = own.request(
                "PUT", "/api/v1/members/me/push-endpoint", json={"url": receiver.url}
            )
            assert answer.status_code == 200, answer.text
            own.close()
        workers = start_workers(server, 2)
        people = People(seed=3)
        try:
            send_phase(client, people, run, 1)  # receivers up
            wait_until_delivered(run, server)
            for receiver in run.receivers.values():
                receiver.down()
            send_phase(client, people, run, 2)  # connections refused
            time.sleep(3.0)
            for receiver in run.receivers.values():
                receiver.failing = True
                receiver.up()
            send_phase(client, people, run, 3)  # 503
            time.sleep(2.0)
            for receiver in run.receivers.values():
                receiver.failing = False
            send_phase(client, people, run, 4)  # back
            wait_until_delivered(run, server)
        finally:
            stop_workers(workers)
            client.close()
            for receiver in run.receivers.values():
                receiver.down()
    run.seconds = time.monotonic() - started
    yield run


def _figures(nodeid: str, run: PushRun, lost: int, duplicated: int) -> None:
    row = SUMMARY.row(nodeid)
    row.faults = 2 * len(run.receivers)  # each receiver: refused, then 503
    row.messages = sum(len(ids) for ids in run.sent.values())
    row.lost, row.duplicated = lost, duplicated


def test_every_item_pushed_exactly_once(push_run: PushRun, request: pytest.FixtureRequest) -> None:
    lost = duplicated = 0
    problems = []
    for region, ids in push_run.sent.items():
        accepted = Counter(p.message_id for p in push_run.receivers[region].accepted())
        lost += sum(1 for i in ids if accepted[i] == 0)
        duplicated += sum(n - 1 for n in accepted.values() if n > 1)
        stray = set(accepted) - set(ids)
        if stray:
            problems.append(f"{region} received messages not addressed to it: {sorted(stray)}")
    _figures(request.node.nodeid, push_run, lost, duplicated)
    assert (lost, duplicated, problems) == (0, 0, [])
    assert push_run.delivery_states.get("delivered") == sum(len(i) for i in push_run.sent.values())
    assert set(push_run.delivery_states) == {"delivered"}


def test_pushes_are_signed_by_the_hub(push_run: PushRun) -> None:
    for receiver in push_run.receivers.values():
        for push in receiver.accepted():
            assert verify_push(push_run.hub_key, push.path_qs, push.headers, push.body)
            assert json.loads(push.body)["id"] == push.message_id


def test_pushes_arrive_in_order_per_member(
    push_run: PushRun, request: pytest.FixtureRequest
) -> None:
    """The order a member's items were sent in is the order they are accepted in."""
    SUMMARY.row(request.node.nodeid).messages = sum(len(i) for i in push_run.sent.values())
    for region, ids in push_run.sent.items():
        first_seen: list[str] = []
        for push in push_run.receivers[region].accepted():
            if push.message_id not in first_seen:
                first_seen.append(push.message_id)
        sent_position = {message_id: n for n, message_id in enumerate(ids)}
        arrival = [sent_position.get(m, -1) for m in first_seen]
        assert arrival == sorted(arrival), (
            f"{region}: items arrived in this order of sending: {arrival}"
        )

"""The several-node topology run for real (issue 18): ``deploy/cluster.sh`` brings up a
PostgreSQL primary, its ``pg_basebackup`` replica, PgBouncer (transaction pooling), Redis,
two API processes, two workers and nginx on 127.0.0.1; county systems work through nginx
and through each API node directly while one API process and one worker are SIGKILLed.

Proved here: a rate limit of N a minute holds across both nodes together; a console
session made on one node works on the other; every push is delivered, once (a push in
flight when its worker died may come twice, with the same ``X-Hub-Message``); nothing the
hub acknowledged is lost or doubled; ``audit verify`` finds the chain intact; the change
feed, tailed across the nodes, is gap-free and in order; the replica's figures equal the
primary's once it has caught up.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.periods import month_of
from tests.cluster.topology import Cluster, PushReceiver, missing_packages
from tests.exchange.helpers import id_number, query_body
from tests.fixtures.hub import MemberKey, client_for, make_context, make_member
from tests.web.helpers import PASSWORD, csrf_from

pytestmark = pytest.mark.cluster

LIMIT = 150  # requests per member per minute, counted by both nodes together (Redis)
ASKERS = ("440303", "440304", "440305", "440306")  # Shenzhen: residence counties
ORIGINS = ("110101", "110105", "110106", "110108")  # Beijing: household counties, pushed to
PER_ASKER = 12
TAILED = ORIGINS[1]  # the county whose change feed a sync job tails during the workload
SETTINGS = {
    "HUB_RATE_LIMIT_PER_MINUTE": str(LIMIT),
    "HUB_PUSH_ALLOW_HTTP": "true",
    "HUB_PUSH_ALLOWED_HOSTS": '["127.0.0.1"]',
    "HUB_PUSH_TIMEOUT_SECONDS": "2",
    "HUB_PUSH_LEASE_SECONDS": "5",  # a killed worker's claim passes to the other soon
    "HUB_PUSH_RETRY_BASE_SECONDS": "0.5",
    "HUB_PUSH_RETRY_CAP_SECONDS": "2",
    "HUB_WORKER_INTERVAL_SECONDS": "0.3",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    missing = missing_packages()
    if missing:
        pytest.skip(f"Debian packages missing: {', '.join(missing)} (.ci/run installs them)")
    servers = Cluster(api_nodes=2, workers=2, settings=SETTINGS)
    servers.start()
    try:
        yield servers
    finally:
        servers.destroy()


@pytest.fixture(scope="module")
def primary(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubContext]:
    """The hub in this process on the primary itself (its figures read the primary)."""
    env = cluster.env()
    context = make_context(
        env["HUB_DIRECT_DATABASE_URL"], tmp_path_factory.mktemp("primary"),
        keys_file=Path(env["HUB_KEYS_FILE"]), generate_dev_keys=False,
    )  # fmt: skip
    yield context
    context.dispose()


class Nodes:
    """A county system's HTTP client over several entry points (nginx, each API node), in
    turn; a connection refused or a 502 (a node killed) is retried on the next, with the
    same ``Idempotency-Key``; bounded in attempts."""

    def __init__(self, urls: list[str]) -> None:
        self.clients = [httpx.Client(base_url=url, timeout=15) for url in urls]
        self._turn = itertools.count()

    def request(self, method: str, path: str, member: MemberKey, **kw: Any) -> httpx.Response:
        headers = {**member.headers, **kw.pop("headers", {})}
        for _ in range(40):
            client = self.clients[next(self._turn) % len(self.clients)]
            try:
                answer = client.request(method, path, headers=headers, **kw)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if answer.status_code in (502, 503, 504) or (
                answer.status_code == 409 and "Idempotency-Key" in headers
            ):  # a node died under it, or its first attempt is still being rolled back
                time.sleep(0.2)
                continue
            return answer
        raise AssertionError(f"{method} {path}: no node answered")

    def close(self) -> None:
        for client in self.clients:
            client.close()


# -- shared limits and sessions (before anything is killed) ------------------------------------
def test_the_cluster_came_up_whole(cluster: Cluster) -> None:
    status = cluster.run("status")
    parts = ("primary", "replica", "pgbouncer", "redis", "api1", "api2", "worker1", "worker2",
             "nginx")  # fmt: skip
    assert [line.split()[:2] for line in status.splitlines()] == [[p, "up"] for p in parts]
    assert cluster.started_in < 120, f"cold start took {cluster.started_in:.1f} s"


def test_a_rate_limit_holds_across_both_nodes_together(
    cluster: Cluster, primary: HubContext
) -> None:
    member = make_member(primary, role="county", region="440307")
    nodes = [httpx.Client(base_url=url, timeout=15) for url in (*cluster.api_urls, cluster.url)]
    try:
        statuses = [
            nodes[n % len(nodes)].get("/api/v1/regions/110105", headers=member.headers)
            .status_code
            for n in range(LIMIT + 1)
        ]  # fmt: skip
    finally:
        for client in nodes:
            client.close()
    assert statuses[:LIMIT] == [200] * LIMIT
    assert statuses[LIMIT] == 429  # the 151st of the minute, whichever node it reaches


def test_a_console_session_made_on_one_node_works_on_the_other(
    cluster: Cluster, tmp_path: Path
) -> None:
    password = tmp_path / "password"
    password.write_text(PASSWORD)
    made = cluster.hub("users", "add", "--username", "nation-admin", "--role", "admin",
                       "--region", "000000", "--password-file", str(password))  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    one, two = cluster.api_urls
    with httpx.Client(timeout=15) as browser:  # cookies are per host, whatever the port
        form = browser.get(f"{one}/console/sign-in")
        signed_in = browser.post(
            f"{two}/console/sign-in",
            data={"username": "nation-admin", "password": PASSWORD,
                  "csrf_token": csrf_from(form.text)},
        )  # fmt: skip
        assert signed_in.status_code == 303, signed_in.text
        page = browser.get(f"{one}/console/audit")
        assert page.status_code == 200, page.text
        assert "nation-admin" in page.text or "审计" in page.text


# -- the workload, with one API process and one worker killed ---------------------------------
@dataclass
class Workload:
    sent: dict[str, str] = field(default_factory=dict)  # case_ref → message id
    answered: set[str] = field(default_factory=set)
    feed: list[int] = field(default_factory=list)  # the seqs the tailing sync job saw
    in_flight_at_kill: set[str] = field(default_factory=set)
    members: dict[str, MemberKey] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _ask(nodes: Nodes, asker: MemberKey, work: Workload, answers: dict[str, queue.Queue]) -> None:
    for n in range(PER_ASKER):
        origin = ORIGINS[n % len(ORIGINS)]
        case_ref = f"topo-{asker.region}-{n}"
        body = query_body(
            to_region=origin, case_ref=case_ref,
            subject_id=id_number(prefix=origin, seq=f"{int(asker.region[-2:]) * 20 + n:03d}"),
        )  # fmt: skip
        answer = nodes.request("POST", "/api/v1/messages", asker, json=body,
                               headers={"Idempotency-Key": case_ref})  # fmt: skip
        assert answer.status_code == 201, answer.text
        with work.lock:
            work.sent[case_ref] = answer.json()["id"]
        answers[origin].put(answer.json()["id"])


def _answer(nodes: Nodes, origin: MemberKey, work: Workload, inbox: queue.Queue) -> None:
    for _ in range(PER_ASKER):
        message_id = inbox.get(timeout=120)
        answer = nodes.request(
            "POST", f"/api/v1/messages/{message_id}/feedback", origin,
            json={"result": "not_found"}, headers={"Idempotency-Key": f"answer-{message_id}"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        with work.lock:
            work.answered.add(message_id)


def _tail(nodes: Nodes, member: MemberKey, work: Workload, done: threading.Event) -> None:
    """A county's sync job: everything that changed since its cursor, over and over."""
    cursor: str | None = None
    while True:
        finishing = done.is_set()
        page = nodes.request("GET", "/api/v1/changes", member,
                             params={"since": cursor} if cursor else {})  # fmt: skip
        assert page.status_code == 200, page.text
        work.feed += [item["seq"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if finishing and not page.json()["items"]:
            return
        time.sleep(0.5)


def _kill_mid_workload(cluster: Cluster, work: Workload, receiver: PushReceiver) -> None:
    total = len(ASKERS) * PER_ASKER
    _wait(lambda: len(work.sent) >= total // 3, "a third of the queries")
    cluster.kill("api1")
    _wait(lambda: len(work.sent) >= total // 2, "half of the queries")
    _wait(lambda: bool(receiver.in_flight_around(time.monotonic(), margin=0)), "a push under way")
    cluster.kill("worker1")
    work.in_flight_at_kill = receiver.in_flight_around(time.monotonic())


def _wait(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def receiver() -> Iterator[PushReceiver]:
    with PushReceiver(delay=0.05) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def workload(cluster: Cluster, primary: HubContext, receiver: PushReceiver) -> Workload:
    work = Workload()
    nodes = Nodes([cluster.url, *cluster.api_urls])
    try:
        for region in (*ASKERS, *ORIGINS):
            work.members[region] = make_member(primary, role="county", region=region)
        for region in ORIGINS:
            put = nodes.request("PUT", "/api/v1/members/me/push-endpoint",
                                work.members[region], json={"url": receiver.url})  # fmt: skip
            assert put.status_code == 200, put.text
        answers: dict[str, queue.Queue] = {region: queue.Queue() for region in ORIGINS}
        done = threading.Event()
        jobs = [threading.Thread(target=_ask, args=(nodes, work.members[r], work, answers))
                for r in ASKERS]  # fmt: skip
        jobs += [threading.Thread(target=_answer, args=(nodes, work.members[r], work, answers[r]))
                 for r in ORIGINS]  # fmt: skip
        tail = threading.Thread(target=_tail, args=(nodes, work.members[TAILED], work, done))
        for job in [*jobs, tail]:
            job.start()
        _kill_mid_workload(cluster, work, receiver)
        for job in jobs:
            job.join(timeout=120)
        _wait(lambda: _undelivered(cluster) == 0, "every push delivered", timeout=60)
        done.set()
        tail.join(timeout=60)
        assert not any(job.is_alive() for job in [*jobs, tail]), "a county system hung"
    finally:
        nodes.close()
    return work


def _undelivered(cluster: Cluster) -> int:
    with psycopg.connect(cluster.database_url()) as conn:
        row = conn.execute("SELECT count(*) FROM push_deliveries WHERE state <> 'delivered'")
        return int(row.fetchone()[0])  # type: ignore[index]


def _rows(cluster: Cluster, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(cluster.database_url()) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def test_every_push_is_delivered_once_across_workers(
    cluster: Cluster, workload: Workload, receiver: PushReceiver
) -> None:
    sent = set(workload.sent.values())
    arrived = receiver.counts()
    assert set(arrived) == sent  # none lost, none invented
    twice = {message for message, count in arrived.items() if count > 1}
    # At least once: only a push in flight when its worker was killed may come again.
    assert twice <= workload.in_flight_at_kill, (twice, workload.in_flight_at_kill)
    rows = _rows(cluster, "SELECT message_id::text, state FROM push_deliveries")
    assert sorted(r[0] for r in rows) == sorted(sent)  # one delivery row per message
    assert {r[1] for r in rows} == {"delivered"}


def test_nothing_acknowledged_is_lost_or_doubled(cluster: Cluster, workload: Workload) -> None:
    assert len(workload.sent) == len(ASKERS) * PER_ASKER
    rows = _rows(
        cluster, "SELECT case_ref, id::text, state FROM messages WHERE case_ref LIKE %s", "topo-%"
    )
    assert sorted(r[0] for r in rows) == sorted(workload.sent)  # each exactly once
    assert {r[0]: r[1] for r in rows} == workload.sent  # the ids the clients were given
    assert {r[2] for r in rows} == {"answered"}
    assert workload.answered == set(workload.sent.values())


def test_the_audit_chain_is_intact_with_both_nodes_writing(
    cluster: Cluster, workload: Workload
) -> None:
    verified = cluster.hub("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact" in verified.stdout


def test_the_change_feed_is_gap_free_and_ordered_across_nodes(
    cluster: Cluster, workload: Workload
) -> None:
    assert workload.feed == sorted(set(workload.feed))  # increasing, never twice
    expected = _rows(
        cluster, "SELECT seq FROM changes WHERE region_a = %s OR region_b = %s ORDER BY seq",
        TAILED, TAILED,
    )  # fmt: skip
    assert workload.feed == [row[0] for row in expected]  # none skipped by a late commit
    assert len(workload.feed) >= 2 * PER_ASKER  # each query arrived and was answered


def test_the_replicas_figures_equal_the_primarys_once_caught_up(
    cluster: Cluster, primary: HubContext, workload: Workload
) -> None:
    admin = make_member(primary, role="admin", region="000000")
    params = {"region": "000000", "period": month_of(clock.now()).label}
    deadline = time.monotonic() + 30
    with (
        httpx.Client(base_url=cluster.url, timeout=15) as through_nginx,
        client_for(primary) as on_primary,
    ):
        while True:
            cluster.replica_caught_up()
            from_replica = through_nginx.get("/api/v1/metrics/exchange", params=params,
                                             headers=admin.headers)  # fmt: skip
            from_primary = on_primary.get("/api/v1/metrics/exchange", params=params,
                                          headers=admin.headers)  # fmt: skip
            assert from_replica.status_code == from_primary.status_code == 200
            replica = _without_time(from_replica.json())
            current = _without_time(from_primary.json())
            if replica == current:
                break
            assert time.monotonic() < deadline, (replica, current)
            time.sleep(0.2)
    assert replica["total"]["queries"]["answered"] >= len(ASKERS) * PER_ASKER


def _without_time(figures: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in figures.items() if key != "as_of"}


def test_the_killed_processes_were_really_gone(cluster: Cluster, workload: Workload) -> None:
    status = cluster.run("status", check=False)
    assert "api1       down" in status and "worker1    down" in status, status
    assert "api2       up" in status and "worker2    up" in status, status

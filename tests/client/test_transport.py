"""The client's transport without a hub: retries, Retry-After, deadlines, keys, signatures,
the error tree. Time is the test's own (``RetryPolicy``'s monotonic, sleep, random)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange_hub import crypto
from exchange_hub.client import (
    AuthenticationError,
    Ed25519Signer,
    HubClient,
    HubUnreachable,
    InvalidInputError,
    InvalidRequestError,
    RateLimitedError,
    RetryPolicy,
    Transport,
    UnavailableError,
    UnexpectedAnswer,
)
from exchange_hub.client.signing import RequestSigner
from tests.records.factories import id_number, outflow


class FakeTime:
    """A monotonic clock that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def policy(self, deadline: float = 60.0, jitter: float = 0.5) -> RetryPolicy:
        return RetryPolicy(deadline=deadline, monotonic=lambda: self.now, sleep=self.sleep,
                           random=lambda: jitter)  # fmt: skip


def problem(status: int, detail: str, field: str | None = None, **headers: str) -> httpx.Response:
    body = {"type": "x", "title": "T", "status": status, "detail": detail, "field": field}
    return httpx.Response(status, json=body, headers=headers)


WRITTEN = {"requeued": 0}  # POST /push-deliveries/redrive: a write with a small answer


def client_with(handler: Callable[[httpx.Request], httpx.Response], time: FakeTime, **kw: Any
                ) -> tuple[HubClient, list[httpx.Request]]:  # fmt: skip
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    http = httpx.Client(transport=httpx.MockTransport(record))
    transport = Transport("http://hub.test", "hub_k_s", http=http, retry=time.policy(**kw))
    return HubClient("http://hub.test", "hub_k_s", transport=transport), seen


def answers(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def test_429_waits_what_retry_after_says_and_keeps_the_key() -> None:
    time = FakeTime()
    batch = {"accepted": 0, "created": 0, "updated": 0, "unchanged": 0, "rejected": [],
             "rejected_count": 0, "rejected_truncated": False, "lines": 0, "format": "ndjson",
             "encoding": "utf-8"}  # fmt: skip
    client, seen = client_with(answers(
        problem(429, "rate", **{"Retry-After": "7"}), problem(503, "down", **{"Retry-After": "2"}),
        httpx.Response(200, json=batch),
    ), time)  # fmt: skip
    client.push_batch([outflow(id_number())])
    # never sooner than told, plus a little jitter (at most a tenth of the wait)
    assert time.slept == [7 + 0.25, 2 + 0.2]
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1 and keys.pop().startswith("batch-")


def test_connection_errors_back_off_with_jitter_until_the_deadline() -> None:
    time = FakeTime()
    client, seen = client_with(answers(httpx.ConnectError("refused")), time, deadline=20.0)
    with pytest.raises(HubUnreachable) as caught:
        client.me()
    assert time.slept == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]  # 0.5·2ⁿ·jitter; the next would pass 20 s
    assert caught.value.attempts == len(seen) == 7
    assert "无法连接交换平台" in str(caught.value) and "ConnectError" in str(caught.value)


def test_the_back_off_stays_at_its_cap_however_many_attempts() -> None:
    policy = RetryPolicy(random=lambda: 1.0)
    assert [policy.backoff(n) for n in (1, 2, 7, 1025, 100_000)] == [0.5, 1.0, 30.0, 30.0, 30.0]


def test_a_lasting_503_raises_the_last_refusal_with_its_problem() -> None:
    time = FakeTime()
    down = problem(503, "the database is not reachable", **{"Retry-After": "30"})
    client, _ = client_with(answers(down), time, deadline=100.0)
    with pytest.raises(UnavailableError) as caught:
        client.me()
    assert caught.value.status == 503 and caught.value.problem.detail.startswith("the database")
    assert len(time.slept) == 3 and "平台暂时不可用" in str(caught.value)


def test_refusals_are_not_retried_and_name_the_field() -> None:
    time = FakeTime()
    client, seen = client_with(answers(problem(422, "bad", "person.id_number")), time)
    with pytest.raises(InvalidInputError) as caught:
        client.create_record(outflow(id_number()))
    assert len(seen) == 1 and time.slept == []
    assert caught.value.field == "person.id_number"
    assert "数据有误" in str(caught.value) and "field person.id_number" in str(caught.value)


def test_a_wrong_key_reads_as_a_clerk_can_act_on_it() -> None:
    client, _ = client_with(answers(problem(401, "signature does not verify", "X-Hub-Signature")),
                            FakeTime())  # fmt: skip
    with pytest.raises(AuthenticationError) as caught:
        client.me()
    text = str(caught.value)
    assert "身份验证未通过" in text and "签名私钥" in text and "signature does not verify" in text


def test_a_key_in_flight_is_waited_for_other_conflicts_are_not() -> None:
    time = FakeTime()
    in_flight = problem(409, "a request with this Idempotency-Key is still in progress",
                        "Idempotency-Key")  # fmt: skip
    client, seen = client_with(answers(in_flight, httpx.Response(200, json=WRITTEN)), time)
    client.redrive_pushes()
    assert len(seen) == 2 and len({r.headers["Idempotency-Key"] for r in seen}) == 1


def test_a_proxy_error_page_is_still_an_error_of_the_tree() -> None:
    client, _ = client_with(answers(httpx.Response(502, text="<html>bad gateway</html>")),
                            FakeTime(), deadline=1.0)  # fmt: skip
    with pytest.raises(UnavailableError):
        client.me()


def test_bad_arguments_are_refused_before_sending() -> None:
    client, seen = client_with(answers(httpx.Response(201, json=WRITTEN)), FakeTime())
    with pytest.raises(InvalidRequestError) as caught:
        client.create_record(
            {"kind": "transfer", "person": {"id_number": id_number(), "name": "x"}}
        )
    assert caught.value.field == "kind" and seen == []


def test_every_write_carries_a_key_and_batches_one_from_their_content(tmp_path: Path) -> None:
    client, seen = client_with(answers(httpx.Response(200, json=WRITTEN)), FakeTime())
    client.redrive_pushes()
    client.redrive_pushes()
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 2  # two calls, two keys
    file = tmp_path / "a.ndjson"
    file.write_text(json.dumps(outflow(id_number())) + "\n")
    keys = []
    for _ in range(2):
        with contextlib.suppress(UnexpectedAnswer):  # the fake answers no batch result
            client.push_batch(file)
        keys.append(seen[-1].headers["Idempotency-Key"])
    assert keys[0] == keys[1] and seen[-1].headers["Content-Length"] == str(file.stat().st_size)
    file.write_text(json.dumps(outflow(id_number(seq=2))) + "\n")
    with contextlib.suppress(UnexpectedAnswer):
        client.push_batch(file)
    assert seen[-1].headers["Idempotency-Key"] != keys[0]
    assert seen[-1].headers["Content-Type"] == "application/x-ndjson"


def test_requests_are_signed_as_the_hub_verifies_them() -> None:
    signer = Ed25519Signer.generate()
    public = signer.public_text()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if request.url.path == "/api/v1/regions":
            return httpx.Response(200, json={"items": []})
        return httpx.Response(200, json={"name": "n", "role": "county", "region": "110105",
                                         "department": None})  # fmt: skip

    http = httpx.Client(transport=httpx.MockTransport(handler))
    transport = Transport("http://hub.test", "k", http=http,
                          signer=RequestSigner(signer, now=lambda: 1_800_000_000.4))  # fmt: skip
    client = HubClient("http://hub.test", "k", transport=transport)
    client.me()
    client.me()  # the same request in the same second: the hub would call it a replay
    client.regions(parent="110000")
    stamps = [r.headers["X-Hub-Timestamp"] for r in seen]
    assert stamps == ["1800000000", "1800000001", "1800000000"]
    for request in seen:
        signed = crypto.signing_string(
            request.method, request.url.raw_path.decode(), request.headers["X-Hub-Timestamp"],
            hashlib.sha256(request.content).hexdigest(),
        )  # fmt: skip
        assert crypto.verify_ed25519(public, signed, request.headers["X-Hub-Signature"])
    assert seen[2].url.raw_path == b"/api/v1/regions?parent=110000"


def test_keys_load_from_the_forms_members_keep(tmp_path: Path) -> None:
    private, public = crypto.generate_member_keypair()
    assert Ed25519Signer.from_text(private).public_text() == public
    pem = tmp_path / "key.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))  # fmt: skip
    assert len(Ed25519Signer.from_file(pem).sign(b"x")) == 86
    with pytest.raises(ValueError):
        Ed25519Signer.from_text("c2hvcnQ")


def test_rate_limited_error_when_the_deadline_is_too_short_for_retry_after() -> None:
    time = FakeTime()
    client, seen = client_with(answers(problem(429, "rate", **{"Retry-After": "600"})), time,
                               deadline=60.0)  # fmt: skip
    with pytest.raises(RateLimitedError):
        client.me()
    assert len(seen) == 1 and time.slept == []


def test_an_answer_that_is_not_the_contract_is_an_error_of_the_tree() -> None:
    client, _ = client_with(answers(httpx.Response(200, text="<html>portal login</html>")),
                            FakeTime())  # fmt: skip
    with pytest.raises(UnexpectedAnswer) as caught:
        client.me()
    assert "平台的回答" in str(caught.value)


def test_the_client_and_the_agent_load_without_the_servers_database_layer() -> None:
    """A county's machine starts the agent every night: no SQLAlchemy, no ORM models
    (they cost most of a second to import, and the agent never touches the database)."""
    import subprocess
    import sys

    code = ("import sys, exchange_hub.agent.cli; "
            "print(sorted(m for m in ('sqlalchemy', 'exchange_hub.models', 'fastapi') "
            "if m in sys.modules))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    assert loaded == "[]"


def test_a_request_another_process_signed_in_the_same_second_is_signed_again() -> None:
    signer = Ed25519Signer.generate()
    seen: list[httpx.Request] = []
    replayed = problem(401, "signature replayed", "X-Hub-Signature")
    me = httpx.Response(200, json={"name": "n", "role": "county", "region": "110105",
                                   "department": None})  # fmt: skip
    queue = [replayed, replayed, me]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    transport = Transport("http://hub.test", "k", http=http, retry=FakeTime().policy(),
                          signer=RequestSigner(signer, now=lambda: 1_800_000_000.0))  # fmt: skip
    HubClient("http://hub.test", "k", transport=transport).me()
    stamps = [r.headers["X-Hub-Timestamp"] for r in seen]
    assert stamps == ["1800000000", "1800000001", "1800000002"]

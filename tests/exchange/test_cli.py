"""Operator commands: receipts verify, jobs run, pushes redrive; the sender's signature is kept."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from exchange_hub import clock as hub_clock
from exchange_hub import crypto
from exchange_hub.cli import app
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.deps import signing_string
from exchange_hub.models import Message, SeenSignature
from tests.exchange.helpers import post_message, query_body
from tests.fixtures.hub import MemberKey, make_member


@pytest.fixture
def cli_env(hub: HubContext, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.resolved_database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    monkeypatch.setenv("HUB_LOG_JSON", "false")
    return CliRunner()


def test_receipts_verify_accepts_a_genuine_receipt(
    client: TestClient, cli_env: CliRunner, county_a: MemberKey, county_b: MemberKey, tmp_path: Path
) -> None:
    accepted = post_message(client, county_b, query_body(to_region="110105"))
    file = tmp_path / "response.json"
    file.write_text(json.dumps(accepted))
    result = cli_env.invoke(app, ["receipts", "verify", str(file)])
    assert result.exit_code == 0, result.output
    assert "verifies" in result.output
    from_stdin = cli_env.invoke(
        app, ["receipts", "verify", "-"], input=json.dumps(accepted["receipt"])
    )
    assert from_stdin.exit_code == 0, from_stdin.output


def test_receipts_verify_refuses_a_tampered_or_foreign_receipt(
    client: TestClient,
    hub: HubContext,
    cli_env: CliRunner,
    county_a: MemberKey,
    county_b: MemberKey,
    tmp_path: Path,
) -> None:
    receipt = post_message(client, county_b, query_body(to_region="110105"))["receipt"]
    tampered = {**receipt, "accepted_at": "2020-01-01T00:00:00+00:00"}
    result = cli_env.invoke(app, ["receipts", "verify", "-"], input=json.dumps(tampered))
    assert result.exit_code == 1
    _, other_public = crypto.generate_member_keypair()
    foreign = cli_env.invoke(
        app, ["receipts", "verify", "-", "--public-key", other_public], input=json.dumps(receipt)
    )
    assert foreign.exit_code == 1
    own_public = hub.keyring.hub_public_key()["public_key"]
    offline = cli_env.invoke(
        app, ["receipts", "verify", "-", "--public-key", own_public], input=json.dumps(receipt)
    )
    assert offline.exit_code == 0, offline.output
    assert cli_env.invoke(app, ["receipts", "verify", "-"], input="{nope").exit_code == 2
    assert (
        cli_env.invoke(app, ["receipts", "verify", str(tmp_path / "missing.json")]).exit_code == 2
    )


def test_jobs_run_purges_old_seen_signatures_and_reports_each_job(
    hub: HubContext, cli_env: CliRunner
) -> None:
    with transaction(hub.sessions) as session:
        session.add(SeenSignature(digest="a" * 64, seen_at=hub_clock.now() - timedelta(hours=1)))
        session.add(SeenSignature(digest="b" * 64, seen_at=hub_clock.now()))
    result = cli_env.invoke(app, ["jobs", "run"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["exchange.purge_seen_signatures"] == {"purged": 1}
    assert report["exchange.deliver_pushes"]["claimed"] == 0
    again = json.loads(cli_env.invoke(app, ["jobs", "run"]).output)
    assert again["exchange.purge_seen_signatures"] == {"purged": 0}  # safe to rerun
    assert "exchange.deliver_pushes" in cli_env.invoke(app, ["jobs", "list"]).output


def test_pushes_redrive_requeues_failed_deliveries(hub: HubContext, cli_env: CliRunner) -> None:
    result = cli_env.invoke(app, ["pushes", "redrive"])
    assert result.exit_code == 0
    assert "0 push deliveries queued again" in result.output


def test_the_senders_request_signature_is_kept(client: TestClient, hub: HubContext) -> None:
    private, public = crypto.generate_member_keypair()
    make_member(hub, role="county", region="110105")
    signer = make_member(hub, role="county", region="440305", public_key=public)
    body = json.dumps(query_body(to_region="110105")).encode()
    timestamp = str(int(hub_clock.unix_seconds()))
    payload = signing_string(
        "POST", "/api/v1/messages", timestamp, hashlib.sha256(body).hexdigest()
    )
    signature = crypto.sign_with_private_key(private, payload)
    headers = {
        **signer.headers,
        "Content-Type": "application/json",
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature": signature,
    }
    response = client.post("/api/v1/messages", content=body, headers=headers)
    assert response.status_code == 201, response.text
    with hub.sessions() as session:
        message = session.get(Message, uuid.UUID(response.json()["id"]))
        assert message is not None
        assert message.sender_signature == {
            "alg": "Ed25519", "timestamp": timestamp, "sig": signature
        }  # fmt: skip


def test_worker_loops_until_sigterm(hub: HubContext) -> None:
    import os
    import signal
    import subprocess
    import sys

    env = {
        **os.environ,
        "HUB_DATABASE_URL": hub.settings.resolved_database_url,
        "HUB_DATA_DIR": str(hub.settings.data_dir),
        "HUB_LOG_JSON": "false",
    }
    with transaction(hub.sessions) as session:
        session.add(SeenSignature(digest="c" * 64, seen_at=hub_clock.now() - timedelta(hours=1)))
    worker = subprocess.Popen(
        [sys.executable, "-m", "exchange_hub.cli", "worker", "--interval", "0.2"], env=env
    )
    try:
        # Starting Python and the hub takes seconds, on a loaded machine tens of them: the
        # bounds only turn a worker that never runs (or never stops) into a failure.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with hub.sessions() as session:
                if session.get(SeenSignature, "c" * 64) is None:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the worker never ran its jobs")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()

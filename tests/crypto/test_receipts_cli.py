"""``exchange-hub receipts verify`` and ``keys public`` in both profiles, and across a switch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from exchange_hub import crypto
from exchange_hub.cli import app
from exchange_hub.context import HubContext
from tests.exchange.helpers import post_message, query_body
from tests.fixtures.hub import client_for, make_context, make_member

PROFILES = ["international", "national"]


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def node(database_url: str, tmp_path: Path, profile: str) -> Iterator[HubContext]:
    hub = make_context(database_url, tmp_path / "data", crypto_profile=profile)
    yield hub
    hub.dispose()


@pytest.fixture
def runner(node: HubContext, monkeypatch: pytest.MonkeyPatch, profile: str) -> CliRunner:
    monkeypatch.setenv("HUB_DATABASE_URL", node.settings.resolved_database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(node.settings.data_dir))
    monkeypatch.setenv("HUB_LOG_JSON", "false")
    monkeypatch.setenv("HUB_CRYPTO_PROFILE", profile)
    return CliRunner()


def _receipt(node: HubContext) -> dict[str, object]:
    make_member(node, role="county", region="110105")
    sender = make_member(node, role="county", region="440305")
    with client_for(node) as client:
        return post_message(client, sender, query_body(to_region="110105"))["receipt"]  # type: ignore[no-any-return]


def test_a_receipt_verifies_with_the_ring_and_with_the_public_key(
    node: HubContext, runner: CliRunner, profile: str
) -> None:
    receipt = _receipt(node)
    assert receipt["signature"]["alg"] == ("SM2" if profile == "national" else "Ed25519")  # type: ignore[index]
    text = json.dumps(receipt)
    assert runner.invoke(app, ["receipts", "verify", "-"], input=text).exit_code == 0
    public = json.loads(runner.invoke(app, ["keys", "public"]).output)
    forms = [public["public_key"]] + ([public["pem"]] if profile == "national" else [])
    for form in forms:
        offline = runner.invoke(app, ["receipts", "verify", "-", "--public-key", form], input=text)
        assert offline.exit_code == 0, offline.output
    tampered = json.dumps({**receipt, "digest": "0" * 64})
    assert runner.invoke(app, ["receipts", "verify", "-"], input=tampered).exit_code == 1
    other = crypto.ring_from_document(crypto.new_ring_document(profile), profile)
    foreign = other.hub_public_key()["public_key"]
    result = runner.invoke(app, ["receipts", "verify", "-", "--public-key", foreign], input=text)
    assert result.exit_code == 1


def test_keys_public_prints_the_key_receipts_are_signed_with(
    node: HubContext, runner: CliRunner, profile: str
) -> None:
    public = json.loads(runner.invoke(app, ["keys", "public"]).output)
    assert public == node.keyring.hub_public_key()
    pem = runner.invoke(app, ["keys", "public", "--pem"])
    if profile == "national":
        assert public["alg"] == "SM2" and len(public["public_key"]) == 130
        assert pem.exit_code == 0 and pem.output.startswith("-----BEGIN PUBLIC KEY-----")
        assert crypto.parse_public_key(pem.output) == public["public_key"]
        every = json.loads(runner.invoke(app, ["keys", "public", "--all"]).output)
        assert [k["kid"] for k in every] == [public["kid"]]  # a new national ring: SM2 only
    else:
        assert public["alg"] == "Ed25519"
        assert pem.exit_code == 1


def test_receipts_signed_before_a_switch_still_verify(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = make_context(database_url, tmp_path / "data", crypto_profile="international")
    receipt = _receipt(before)
    before.dispose()
    crypto.add_profile_keys(before.settings.resolved_keys_file, "national")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUB_CRYPTO_PROFILE", "national")
    result = CliRunner().invoke(app, ["receipts", "verify", "-"], input=json.dumps(receipt))
    assert result.exit_code == 0, result.output
    every = CliRunner().invoke(app, ["keys", "public", "--all"]).output
    assert {k["alg"] for k in json.loads(every)} == {"Ed25519", "SM2"}
    after = make_context(database_url, tmp_path / "data", crypto_profile="national")
    with client_for(after) as client:
        assert client.get("/healthz").status_code == 200
        key = client_key(client, after)
    assert key["alg"] == "SM2"
    after.dispose()


def client_key(client: TestClient, hub: HubContext) -> dict[str, str]:
    member = make_member(hub, role="county", region="110105")
    return client.get("/api/v1/hub-key", headers=member.headers).json()  # type: ignore[no-any-return]

"""``keys init``, ``keys rotate --profile`` and ``keys reencrypt`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from exchange_hub import crypto
from exchange_hub.cli import app
from exchange_hub.context import HubContext
from exchange_hub.models import Record
from tests.fixtures.hub import MemberKey, make_context
from tests.records.factories import id_number, outflow


@pytest.fixture
def env(hub: HubContext, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.resolved_database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    monkeypatch.setenv("HUB_LOG_JSON", "false")
    monkeypatch.setenv("HUB_CRYPTO_PROFILE", "international")
    return monkeypatch


@pytest.mark.parametrize("profile", ["international", "national"])
def test_keys_init_writes_the_profiles_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    monkeypatch.setenv("HUB_CRYPTO_PROFILE", profile)
    out = tmp_path / "keys.json"
    assert CliRunner().invoke(app, ["keys", "init", "--out", str(out)]).exit_code == 0
    assert ("national" in json.loads(out.read_text())) == (profile == "national")
    assert crypto.load_key_ring(out, create=False, profile=profile).profile.name == profile


def test_rotate_to_the_national_profile_then_reencrypt(
    client: TestClient, hub: HubContext, county_a: MemberKey, env: pytest.MonkeyPatch,
    database_url: str,
) -> None:  # fmt: skip
    for seq in range(3):
        body = outflow(id_number(seq=seq))
        assert (
            client.post("/api/v1/records", json=body, headers=county_a.headers).status_code == 201
        )
    runner = CliRunner()
    rotated = runner.invoke(app, ["keys", "rotate", "--profile", "national"])
    assert rotated.exit_code == 0, rotated.output
    assert (
        "national keys added" in rotated.output and "HUB_CRYPTO_PROFILE=national" in rotated.output
    )
    env.setenv("HUB_CRYPTO_PROFILE", "national")
    moved = runner.invoke(app, ["keys", "reencrypt"])
    assert moved.exit_code == 0, moved.output
    assert (
        "records: 3 rows moved in this run" in moved.output
        and "every row is on SM4GCM." in moved.output
    )
    again = runner.invoke(app, ["keys", "reencrypt", "--again"])
    assert again.exit_code == 0 and "records: 0 rows moved in this run" in again.output
    national = make_context(database_url, hub.settings.data_dir, crypto_profile="national")
    with national.sessions() as session:
        rows = session.scalars(select(Record)).all()
    assert all(r.name_enc.startswith("SM4GCM.") and r.id_index.startswith("HSM3.") for r in rows)
    national.dispose()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_an_unknown_profile_is_refused(env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["keys", "rotate", "--profile", "fips"])
    assert result.exit_code == 1
    assert "unknown crypto profile" in result.output

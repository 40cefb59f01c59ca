"""The audit trail is chained; ``audit verify`` finds edited and deleted rows."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from exchange_hub.audit import service as audit
from exchange_hub.cli import app as cli
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import AuditEvent
from tests.fixtures.hub import MemberKey


def _some_events(client: TestClient, admin: MemberKey, county: MemberKey) -> None:
    client.post(
        "/api/v1/members", json={"role": "county", "region": "440305"}, headers=admin.headers
    )
    client.get("/api/v1/members", headers=county.headers)  # 403
    client.get("/api/v1/regions/110105", headers={"Authorization": "Bearer nope"})  # 401
    with transaction(
        client.app.state.hub.sessions  # type: ignore[attr-defined]
    ) as session:
        audit.record(session, audit.AuditEntry(action="test.event", detail={"n": 1}))


@pytest.fixture
def cli_env(hub: HubContext) -> dict[str, str]:
    settings = hub.settings
    return {
        "HUB_DATABASE_URL": settings.resolved_database_url,
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_LOG_JSON": "false",
    }


def test_events_are_written_and_chained(
    client: TestClient, hub: HubContext, admin_nation: MemberKey, county_a: MemberKey
) -> None:
    _some_events(client, admin_nation, county_a)
    with hub.sessions() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [r.action for r in rows] == ["member.add", "scope.refused", "auth.refused", "test.event"]
    assert rows[0].prev_hash == audit.GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    assert rows[0].actor.startswith("admin:000000")
    assert rows[2].client == "testclient"


def test_verify_passes_on_an_intact_chain(
    client: TestClient,
    hub: HubContext,
    admin_nation: MemberKey,
    county_a: MemberKey,
    cli_env: dict[str, str],
) -> None:
    _some_events(client, admin_nation, county_a)
    result = CliRunner().invoke(cli, ["audit", "verify"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "4 rows verified" in result.output
    api = client.get("/api/v1/audit/verify", headers=admin_nation.headers).json()
    assert api["ok"] is True


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_events SET outcome = 'ok' WHERE action = 'scope.refused'",
        "UPDATE audit_events SET detail = NULL WHERE action = 'auth.refused'",
        "DELETE FROM audit_events WHERE action = 'scope.refused'",
    ],
)
def test_verify_fails_after_a_row_is_altered(
    client: TestClient,
    hub: HubContext,
    admin_nation: MemberKey,
    county_a: MemberKey,
    cli_env: dict[str, str],
    tamper: str,
) -> None:
    _some_events(client, admin_nation, county_a)
    with hub.engine.begin() as conn:
        conn.execute(text(tamper))
    result = CliRunner().invoke(cli, ["audit", "verify"], env=cli_env)
    assert result.exit_code == 1
    assert "audit chain broken at row" in result.output


def test_rehashing_without_the_audit_key_does_not_help(
    client: TestClient, hub: HubContext, admin_nation: MemberKey, county_a: MemberKey
) -> None:
    """An attacker with database access recomputes plain SHA-256 links: still detected."""
    import hashlib

    _some_events(client, admin_nation, county_a)
    with hub.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET outcome = 'ok', hash = :h WHERE id = 2"),
            {"h": hashlib.sha256(b"forged").hexdigest()},
        )
    with hub.sessions() as session:
        assert not audit.verify_chain(session, hub.keyring).ok


def test_audit_list_is_scoped_and_filtered(
    client: TestClient,
    admin_gd: MemberKey,
    admin_nation: MemberKey,
    county_a: MemberKey,
    county_b: MemberKey,
) -> None:
    client.get("/api/v1/members", headers=county_a.headers)
    client.get("/api/v1/members", headers=county_b.headers)
    nation = client.get("/api/v1/audit?action=scope.refused", headers=admin_nation.headers).json()
    assert {e["region"] for e in nation["items"]} == {"110105", "440305"}
    province = client.get("/api/v1/audit?action=scope.refused", headers=admin_gd.headers).json()
    assert {e["region"] for e in province["items"]} == {"440305"}


def test_cli_members_lifecycle(cli_env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(
        cli, ["members", "add", "--region", "440305", "--role", "county"], env=cli_env
    )
    assert added.exit_code == 0, added.output
    member_id = added.output.split()[1]
    listed = runner.invoke(cli, ["members", "list"], env=cli_env)
    assert "440305" in listed.output
    assert runner.invoke(cli, ["members", "rotate-key", member_id], env=cli_env).exit_code == 0
    assert runner.invoke(cli, ["members", "revoke", member_id], env=cli_env).exit_code == 0
    refused = runner.invoke(
        cli, ["members", "add", "--region", "440000", "--role", "county"], env=cli_env
    )
    assert refused.exit_code == 1 and "not a county" in refused.output
    assert runner.invoke(cli, ["audit", "verify"], env=cli_env).exit_code == 0


def test_deleting_the_oldest_row_is_detected(
    client: TestClient, hub: HubContext, admin_nation: MemberKey, county_a: MemberKey
) -> None:
    _some_events(client, admin_nation, county_a)
    with hub.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = (SELECT MIN(id) FROM audit_events)"))
    with hub.sessions() as session:
        result = audit.verify_chain(session, hub.keyring)
    assert not result.ok and "broken" in (result.reason or "")


def test_retention_purge_keeps_the_chain_verifiable(
    hub: HubContext, cli_env: dict[str, str]
) -> None:
    from datetime import timedelta

    from exchange_hub import clock as hub_clock

    old = hub_clock.now() - timedelta(days=400)
    with transaction(hub.sessions) as session:
        for n in range(3):
            audit.record(session, audit.AuditEntry(action="old.event", detail={"n": n}, at=old))
    with transaction(hub.sessions) as session:
        audit.record(session, audit.AuditEntry(action="recent.event"))
    refused = CliRunner().invoke(cli, ["audit", "purge", "--older-than-days", "30"], env=cli_env)
    assert refused.exit_code == 1 and "six months" in refused.output
    result = CliRunner().invoke(cli, ["audit", "purge"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "3 audit rows" in result.output
    with hub.sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        verdict = audit.verify_chain(session, hub.keyring)
    assert actions == ["recent.event", "audit.purge"]
    assert verdict.ok and verdict.checked == 2
    # Removing the oldest kept row after a purge is still detected.
    with hub.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE action = 'recent.event'"))
    with hub.sessions() as session:
        assert not audit.verify_chain(session, hub.keyring).ok


def test_the_purge_job_keeps_six_months(hub: HubContext) -> None:
    from datetime import timedelta

    from exchange_hub import clock as hub_clock
    from exchange_hub.audit.tasks import purge_audit

    with transaction(hub.sessions) as session:
        audit.record(
            session, audit.AuditEntry(action="old", at=hub_clock.now() - timedelta(days=200))
        )
        audit.record(
            session, audit.AuditEntry(action="kept", at=hub_clock.now() - timedelta(days=170))
        )
    hub.settings.audit_retention_days = 30  # too short: six months are kept all the same
    assert purge_audit(hub) == {"purged": 1, "retention_days": 183}
    with hub.sessions() as session:
        assert list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))) == [
            "kept",
            "audit.purge",
        ]
        assert audit.verify_chain(session, hub.keyring).ok

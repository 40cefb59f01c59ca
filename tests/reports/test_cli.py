"""``exchange-hub reports …``: reporting pairs, reminders and figures from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from exchange_hub.cli import app
from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent, ReportingPair
from tests.reports.conftest import shanghai, submit

runner = CliRunner()


@pytest.fixture(autouse=True)
def _environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, hub: HubContext, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    monkeypatch.setenv("HUB_LOG_JSON", "false")
    monkeypatch.setenv("COLUMNS", "240")  # rich tables print whole cells


def run(*args: str) -> str:
    result = runner.invoke(app, ["reports", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fail(*args: str) -> str:
    result = runner.invoke(app, ["reports", *args], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    return result.output


def _pairs(hub: HubContext) -> list[tuple[str, str, str, str | None]]:
    with hub.sessions() as session:
        rows = session.scalars(select(ReportingPair).order_by(ReportingPair.region)).all()
    return [
        (
            r.region,
            r.department,
            str(r.active_from),
            str(r.active_until) if r.active_until else None,
        )
        for r in rows
    ]


def test_activate_and_deactivate_a_pair(hub: HubContext) -> None:
    out = run("activate", "--region", "110105", "--department", "police", "--from", "2026-01-01")
    assert "1 of 1 pairs changed" in out
    assert _pairs(hub) == [("110105", "police", "2026-01-01", None)]
    again = run("activate", "--region", "110105", "--department", "police", "--from", "2026-03-01")
    assert "0 of 1 pairs changed" in again and "already active" in again
    run("deactivate", "--region", "110105", "--department", "police", "--until", "2026-06-30")
    assert _pairs(hub) == [("110105", "police", "2026-01-01", "2026-06-30")]
    run("activate", "--region", "110105", "--department", "police", "--from", "2026-09-01")
    assert len(_pairs(hub)) == 2
    with hub.sessions() as session:
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "report_pair")
            .order_by(AuditEvent.id)
        ).all()
    # every operator attempt is audited, also the one that changed nothing
    assert actions == [
        "report_pairs.activate", "report_pairs.activate", "report_pairs.deactivate",
        "report_pairs.activate",
    ]  # fmt: skip


def test_activate_every_department_of_a_prefecture(hub: HubContext) -> None:
    run("activate", "--region", "4103", "--department", "all", "--from", "2026-01-01")
    pairs = _pairs(hub)
    assert {p[1] for p in pairs} == {
        "police", "civil_affairs", "health", "human_resources", "housing",
        "market_regulation", "education", "transport",
    }  # fmt: skip
    assert all(p[0].startswith("4103") for p in pairs)
    assert len(pairs) % 8 == 0 and len(pairs) > 8


def test_bad_options_fail_cleanly() -> None:
    assert "--from must be a date" in fail(
        "activate", "--region", "110105", "--department", "police", "--from", "2026-13-01"
    )
    assert "unknown department" in fail(
        "activate", "--region", "110105", "--department", "army", "--from", "2026-01-01"
    )
    assert "before --from" in fail(
        "activate", "--region", "110105", "--department", "police", "--from", "2026-05-01",
        "--until", "2026-04-01",
    )  # fmt: skip
    assert "region" in fail(
        "activate", "--region", "999999", "--department", "police", "--from", "2026-01-01"
    )


def test_missing_and_rates(hub: HubContext) -> None:
    run("activate", "--region", "410102", "--department", "police", "--department", "health",
        "--from", "2026-01-01")  # fmt: skip
    submit(hub, region="410102", department="police", period="2026-10",
           at=shanghai(2026, 11, 2), zero=True)  # fmt: skip
    out = run("missing", "--period", "2026-10", "--region", "41", "--as-of", "2026-11-20T12:00")
    assert "health" in out and "police" not in out and "1 reports missing" in out
    rates = run("rates", "--region", "41", "--period", "2026-10", "--level", "county",
                "--as-of", "2026-11-20T12:00")  # fmt: skip
    assert "50.0%" in rates and "—" in rates
    assert "period" in fail("missing", "--period", "2026-13", "--region", "41")


def test_catalogue_command() -> None:
    out = run("catalogue")
    assert "temporary_residence_registrations" in out

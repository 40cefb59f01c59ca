"""`exchange-hub demo` (run by `./dev run`) seeds members, records, traffic and reports."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from exchange_hub.cli import app as cli
from exchange_hub.context import HubContext
from exchange_hub.models import DepartmentReport, Member, Message, Record


def _counts(hub: HubContext) -> dict[str, int]:
    with hub.sessions() as session:
        return {
            table.__name__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Member, Record, Message, DepartmentReport)
        }


def test_demo_seeds_everything_once_and_reissues_keys(hub: HubContext, tmp_path: Path) -> None:
    env = {
        "HUB_DATABASE_URL": hub.settings.resolved_database_url,
        "HUB_DATA_DIR": str(hub.settings.data_dir),
        "HUB_LOG_JSON": "false",
    }
    keys_file = tmp_path / "keys.json"
    first = CliRunner().invoke(cli, ["demo", "--keys-out", str(keys_file)], env=env)
    assert first.exit_code == 0, first.output
    keys = json.loads(keys_file.read_text())
    assert len(keys) >= 10 and all(k.startswith("hub_") for k in keys.values())
    assert oct(keys_file.stat().st_mode)[-3:] == "600"
    printed = first.output.splitlines()
    for name, key in keys.items():  # whole, one line each (a table cut them at 80 columns)
        assert f"{key}  {name}" in printed
    counts = _counts(hub)
    assert counts["Record"] > 50 and counts["Message"] > 1000 and counts["DepartmentReport"] > 50
    again = CliRunner().invoke(cli, ["demo", "--keys-out", str(keys_file)], env=env)
    assert again.exit_code == 0, again.output
    assert _counts(hub) == counts
    assert json.loads(keys_file.read_text()) != keys  # keys are shown once: rerun issues new ones

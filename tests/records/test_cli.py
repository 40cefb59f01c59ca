"""``exchange-hub import`` and ``exchange-hub keys rotate``."""

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
from exchange_hub.models import Record, RecordVersion
from exchange_hub.records import checking, values
from tests.fixtures.hub import MemberKey
from tests.records.factories import id_number, outflow

runner = CliRunner()


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, hub: HubContext, database_url: str) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    monkeypatch.setenv("HUB_LOG_JSON", "false")


@pytest.mark.usefixtures("operator_env")
def test_import_lands_a_file_and_prints_a_summary(tmp_path: Path, hub: HubContext) -> None:
    lines = [json.dumps(outflow(id_number(seq=i))) for i in range(12)] + ['{"kind": 1}']
    file = tmp_path / "county.ndjson"
    file.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["import", str(file), "--as", "110105"])
    # Issue 21: a rejected line fails the command (it exited 0 before), with the counts.
    assert result.exit_code == 1, result.output
    assert "12" in result.output and "rejected lines" in result.output
    assert "1 行被拒收（共 13 行，收下 12 行）" in result.output
    with hub.sessions() as session:
        assert len(session.scalars(select(Record)).all()) == 12
    csv_file = tmp_path / "county.csv"
    csv_file.write_text("kind,id_number,name\noutflow," + id_number(seq=20) + ",张三\n")
    assert runner.invoke(app, ["import", str(csv_file), "--as", "110105"]).exit_code == 0


@pytest.mark.usefixtures("operator_env")
@pytest.mark.parametrize("county", ["110103", "440000", "12"])
def test_import_needs_a_current_county(tmp_path: Path, county: str) -> None:
    file = tmp_path / "x.ndjson"
    file.write_text(json.dumps(outflow(id_number())) + "\n")
    result = runner.invoke(app, ["import", str(file), "--as", county])
    assert result.exit_code == 1 and "--as" in result.output


@pytest.mark.usefixtures("operator_env")
def test_keys_rotate_reencrypts_records_and_versions(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    for i in range(3):
        client.post("/api/v1/records", json=outflow(id_number(seq=i)), headers=county_a.headers)
    record_id = client.post(
        "/api/v1/records",
        json=outflow(id_number(seq=0), moved_on="2026-09-09"),
        headers=county_a.headers,
    ).json()["id"]
    old_kid = hub.keyring.current_data_key
    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 3 records and 1 record versions" in result.output
    ring = crypto.load_key_ring(
        hub.settings.resolved_keys_file, create=False, profile=hub.settings.crypto_profile
    )
    assert ring.current_data_key != old_kid and old_kid in ring.data_keys
    with hub.sessions() as session:
        rows = session.scalars(select(Record)).all()
        versions = session.scalars(select(RecordVersion)).all()
    assert {r.data_key_id for r in rows} == {ring.current_data_key}
    assert all(ring.key_id_of(r.name_enc) == ring.current_data_key for r in rows)
    assert values.from_snapshot(ring, versions[0].snapshot)["id"] == record_id
    assert values.decrypted(ring, rows[0])["id_number"] in {id_number(seq=i) for i in range(3)}


EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.mark.usefixtures("operator_env")
@pytest.mark.parametrize("name", ["records.ndjson", "records.csv"])
def test_the_documented_example_files_import_cleanly(name: str, hub: HubContext) -> None:
    result = runner.invoke(app, ["import", str(EXAMPLES / name), "--as", "110105"])
    assert result.exit_code == 0, result.output
    with hub.sessions() as session:
        assert len(session.scalars(select(Record)).all()) == 3
    again = runner.invoke(app, ["import", str(EXAMPLES / name), "--as", "110105"])
    assert again.exit_code == 0 and "被拒收" not in again.output


@pytest.mark.usefixtures("operator_env")
@pytest.mark.parametrize(
    ("lines", "rejected", "total"),
    [
        (['{"kind": 1}', "not json"], 2, 2),  # every line rejected: it exited 0 before
        ([json.dumps(outflow(id_number(seq=1))), "{}"], 1, 2),
        ([json.dumps(outflow(id_number(seq=1))), "", '{"kind": "outflow"}'], 1, 3),
    ],
)
def test_import_fails_when_any_line_is_rejected(
    tmp_path: Path, lines: list[str], rejected: int, total: int
) -> None:
    file = tmp_path / "county.ndjson"
    file.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["import", str(file), "--as", "110105"])
    assert result.exit_code == 1, result.output
    accepted = total - rejected - lines.count("")
    assert f"{rejected} 行被拒收（共 {total} 行，收下 {accepted} 行）" in result.output


@pytest.mark.usefixtures("operator_env")
def test_a_csv_with_a_bad_row_fails_too(tmp_path: Path) -> None:
    file = tmp_path / "county.csv"
    good = id_number(seq=3)
    file.write_text(f"kind,id_number,name\noutflow,{good},张三\noutflow,123,李四\n")
    result = runner.invoke(app, ["import", str(file), "--as", "110105"])
    assert result.exit_code == 1 and "1 行被拒收（共 3 行，收下 1 行）" in result.output
    assert "id_number" in result.output


def test_import_help_describes_the_line_format() -> None:
    result = runner.invoke(app, ["import", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for column in checking.CSV_COLUMNS:
        assert column in text
    assert "docs/examples/records.ndjson" in text and "header" in text
    assert "Exits 0 when every line landed, 1 when any line was rejected" in text


@pytest.mark.usefixtures("operator_env")
def test_import_reads_an_xlsx_register(tmp_path: Path, hub: HubContext) -> None:
    from tests.records.test_batch_xlsx import register, workbook

    rows = register(6)
    rows[3][3] = "M"  # row 4
    file = tmp_path / "register.xlsx"
    file.write_bytes(workbook(rows))
    result = runner.invoke(app, ["import", str(file), "--as", "110105"])
    assert result.exit_code == 1 and "1 行被拒收（共 7 行，收下 5 行）" in result.output
    with hub.sessions() as session:
        assert len(session.scalars(select(Record)).all()) == 5

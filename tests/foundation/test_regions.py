"""The GB/T 2260 catalogue (SPEC §2)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from exchange_hub.cli import app as cli
from exchange_hub.context import HubContext
from exchange_hub.region_codes import level_of, parse_loc_dat
from tests.fixtures.hub import MemberKey


def test_levels_follow_from_the_code() -> None:
    assert [level_of(c) for c in ("000000", "440000", "440300", "440305")] == [
        "nation", "province", "prefecture", "county",
    ]  # fmt: skip


def test_loc_dat_history_is_understood() -> None:
    lines = [
        '11 province="北京市"',
        '  0103 county="[-2010]崇文区"',
        '  0105 county="朝阳区"',
        '44 province="广东省"',
        '  0111 county="[1983-1986]郊区,[1987-]白云区"',
    ]
    entries = {e.code: e for e in parse_loc_dat(lines)}
    assert entries["110103"].active is False
    assert entries["110105"].name == "朝阳区" and entries["110105"].active
    assert entries["440111"].name == "白云区" and entries["440111"].active


def test_read_region_and_children(client: TestClient, county_a: MemberKey) -> None:
    body = client.get("/api/v1/regions/110105", headers=county_a.headers).json()
    assert body == {
        "code": "110105",
        "name": "朝阳区",
        "level": "county",
        "parent": "110100",
        "active": True,
    }
    province = client.get("/api/v1/regions/440000", headers=county_a.headers).json()
    assert province["parent"] == "000000" and province["level"] == "province"
    kids = client.get("/api/v1/regions?parent=440300", headers=county_a.headers).json()["items"]
    assert "440305" in {k["code"] for k in kids}
    assert all(k["parent"] == "440300" for k in kids)
    provinces = client.get("/api/v1/regions", headers=county_a.headers).json()["items"]
    assert len(provinces) >= 31 and all(p["level"] == "province" for p in provinces)


def test_abolished_codes_stay_but_are_inactive(client: TestClient, county_a: MemberKey) -> None:
    body = client.get("/api/v1/regions/110103", headers=county_a.headers).json()
    assert body["name"] == "崇文区" and body["active"] is False


def test_unknown_and_malformed_codes(client: TestClient, county_a: MemberKey) -> None:
    for code, status in (("999999", 404), ("12345", 422), ("abcdef", 422), ("1101051", 422)):
        response = client.get(f"/api/v1/regions/{code}", headers=county_a.headers)
        assert response.status_code == status, code
        assert response.json()["field"] == "code"
    assert client.get("/api/v1/regions?parent=990000", headers=county_a.headers).status_code == 404


def test_regions_load_csv(
    hub: HubContext, client: TestClient, county_a: MemberKey, tmp_path: Path
) -> None:
    csv_file = tmp_path / "newer.csv"
    csv_file.write_text(
        "\ufeffcode,name,active\n110199,新设区,1\n110105,朝阳区,1\n110106,丰台区,0\n",
        encoding="utf-8",
    )
    env = {
        "HUB_DATABASE_URL": hub.settings.resolved_database_url,
        "HUB_DATA_DIR": str(hub.settings.data_dir),
    }
    result = CliRunner().invoke(cli, ["regions", "load", str(csv_file)], env=env)
    assert result.exit_code == 0, result.output
    assert "1 regions added, 1 updated" in result.output
    assert (
        client.get("/api/v1/regions/110199", headers=county_a.headers).json()["parent"] == "110100"
    )
    assert client.get("/api/v1/regions/110106", headers=county_a.headers).json()["active"] is False
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n1101,short\n", encoding="utf-8")
    refused = CliRunner().invoke(cli, ["regions", "load", str(bad)], env=env)
    assert refused.exit_code == 1 and "line 2" in refused.output

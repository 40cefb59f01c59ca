"""HTTP contract of the figures: scope refusals, bad input as problems, CSV and XLSX exports."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from tests.fixtures.hub import make_member
from tests.metrics.factories import at

OCT = at("2026-10-05 09:00")
PAST_DEADLINE = at("2026-10-20 23:59:59.999999")
EXCHANGE = "/api/v1/metrics/exchange"
LATENCY = "/api/v1/metrics/latency"
BULLETIN = "/api/v1/bulletin"


@pytest.fixture
def october(insert) -> None:
    """Shenzhen answers 900 of 1000 queries, Guangzhou 1 of 10; Beijing sends them all."""
    specs = []
    for to_region, total, answered in (("440305", 1000, 900), ("440106", 10, 1)):
        for i in range(total):
            specs.append(
                dict(
                    to_region=to_region,
                    from_region="110105",
                    submitted_at=OCT,
                    deadline=PAST_DEADLINE,
                    delivered_at=OCT + timedelta(seconds=30),
                    answered_at=OCT + timedelta(days=1) if i < answered else None,
                    feedback_result="not_found" if i < answered and i % 10 == 0 else None,
                )
            )
    insert(*specs)


def problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if field is not None:
        assert body["field"] == field, body
    return body


def test_admin_reads_rates_with_numerator_and_denominator(client, admin_gd, october):
    response = client.get(
        EXCHANGE,
        params={"region": "44", "period": "2026-10", "level": "prefecture"},
        headers=admin_gd.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"]["queries"]["feedback_rate"] == {
        "numerator": 901,
        "denominator": 1010,
        "rate": pytest.approx(0.892079, abs=1e-6),
    }
    assert body["total"]["notifications"]["receipt_rate"]["rate"] is None  # JSON null
    assert {item["region"] for item in body["items"]} >= {"440300", "440100"}


def test_admin_of_one_province_gets_403_for_another(client, admin_gd, october):
    for path in (EXCHANGE, LATENCY, BULLETIN):
        response = client.get(
            path, params={"region": "110000", "period": "2026-10"}, headers=admin_gd.headers
        )
        problem(response, 403, "region")


def test_county_reads_only_its_own_figures(client, hub, county_b, october):
    own = client.get(
        EXCHANGE, params={"region": "440305", "period": "2026-10"}, headers=county_b.headers
    )
    assert own.status_code == 200
    assert own.json()["total"]["queries"]["answered"] == 900
    sent = client.get(
        EXCHANGE,
        params={"region": "440305", "period": "2026-10", "role": "requester"},
        headers=county_b.headers,
    )
    assert sent.json()["total"]["queries"]["routed"] == 0
    for region in ("440106", "440000"):
        response = client.get(
            EXCHANGE, params={"region": region, "period": "2026-10"}, headers=county_b.headers
        )
        problem(response, 403, "region")
    bulletin = client.get(
        BULLETIN, params={"region": "440000", "period": "2026-10"}, headers=county_b.headers
    )
    problem(bulletin, 403)
    reporter = make_member(hub, role="department", region="440305", department="police")
    response = client.get(
        EXCHANGE, params={"region": "440305", "period": "2026-10"}, headers=reporter.headers
    )
    problem(response, 403)


def test_without_a_key_is_401(client):
    problem(client.get(EXCHANGE, params={"region": "44", "period": "2026-10"}), 401)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"region": "44", "period": "2026-13"}, 422, "period"),
        ({"region": "44", "period": "October"}, 422, "period"),
        ({"region": "44", "period": "1999-10"}, 422, "period"),
        ({"region": "44"}, 422, "period"),
        ({"region": "4x", "period": "2026-10"}, 422, "region"),
        ({"region": "449999", "period": "2026-10"}, 404, "region"),
        ({"region": "44", "period": "2026-10", "level": "village"}, 422, "level"),
        ({"region": "440305", "period": "2026-10", "level": "province"}, 422, "level"),
        ({"region": "44", "period": "2026-10", "as_of": "yesterday"}, 422, "as_of"),
        ({"region": "44", "period": "2026-10", "as_of": "2099-01-01"}, 422, "as_of"),
        ({"region": "44", "period": "2026-10", "role": "both"}, 422, "role"),
    ],
)
def test_bad_input_is_a_problem_with_its_field(client, admin_gd, params, status, field):
    for path in (EXCHANGE, LATENCY):
        problem(client.get(path, params=params, headers=admin_gd.headers), status, field)


def test_bulletin_format_must_be_known(client, admin_gd):
    response = client.get(
        BULLETIN,
        params={"region": "44", "period": "2026-10", "format": "docx"},
        headers=admin_gd.headers,
    )
    problem(response, 422, "format")


def test_latency_endpoint(client, admin_gd, october):
    response = client.get(
        LATENCY, params={"region": "44", "period": "2026-10"}, headers=admin_gd.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    delivered = next(leg for leg in body["total"]["queries"] if leg["leg"] == "delivered")
    assert delivered == {
        "leg": "delivered",
        "count": 1010,
        "median_seconds": 30.0,
        "p90_seconds": 30.0,
        "p99_seconds": 30.0,
    }
    assert body["relative_error"] == pytest.approx(1 / 64)


def bulletin(client, admin, fmt: str):
    response = client.get(
        BULLETIN, params={"region": "44", "period": "2026-10", "format": fmt}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return response


def test_bulletin_json_ranks_regions(client, admin_gd, october):
    tables = {t["key"]: t for t in bulletin(client, admin_gd, "json").json()["tables"]}
    assert {"summary", "rank_feedback_rate", "rank_volume", "matrix", "latency"} <= set(tables)
    ranking = tables["rank_feedback_rate"]["rows"]
    assert [(r["rank"], r["region"]) for r in ranking[:2]] == [(1, "440305"), (2, "440106")]
    assert ranking[-1]["rank"] is None and ranking[-1]["feedback_rate"]["rate"] is None
    summary = tables["summary"]["rows"][0]
    assert summary["feedback_rate"]["numerator"] == 901
    assert summary["overdue"] == 109
    matrix = {(r["region"], r["counterpart"]): r for r in tables["matrix"]["rows"]}
    assert matrix[("440300", "110000")]["routed"] == 1000
    sent = tables["requester_not_found"]["rows"]
    assert all(r["routed"] == 0 for r in sent)  # Guangdong sent nothing


def test_bulletin_csv_starts_with_the_bom(client, admin_gd, october):
    response = bulletin(client, admin_gd, "csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    assert "查询反馈率排名" in text and "广东省" in text
    assert "89.2%" in text  # 901 / 1010 in the summary
    assert "—" in text  # a rate over zero messages


def test_xlsx_holds_the_same_numbers_as_the_json(client, admin_gd, october):
    tables = bulletin(client, admin_gd, "json").json()["tables"]
    workbook = load_workbook(io.BytesIO(bulletin(client, admin_gd, "xlsx").content))
    assert workbook.sheetnames[: len(tables)] == [t["title"] for t in tables]
    for table in tables:
        sheet = workbook[table["title"]]
        assert [c.value for c in sheet[1]] == [c["title"] for c in table["columns"]]
        assert sheet.max_row == len(table["rows"]) + 1
        for row_number, row in enumerate(table["rows"], start=2):
            for column_number, column in enumerate(table["columns"], start=1):
                cell = sheet.cell(row=row_number, column=column_number)
                _assert_cell(cell, column["type"], row.get(column["key"]))


def _assert_cell(cell, kind: str, value) -> None:
    if isinstance(value, str) and kind != "text":  # a word in place of a figure (无月报)
        assert cell.value == value
    elif kind == "rate":
        # Excel keeps 15 significant digits; openpyxl writes the float accordingly.
        expected = "—" if value["rate"] is None else pytest.approx(value["rate"], rel=1e-13)
        assert cell.value == expected
        assert cell.number_format == "0.0%"
    elif kind in ("int", "number"):
        assert cell.value == ("—" if value is None else value)
        assert value is None or isinstance(cell.value, int | float)
    else:
        assert (cell.value or "") == (value or "")


def test_cli_writes_the_bulletin(hub, october, tmp_path, monkeypatch):
    from exchange_hub.cli import app

    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.resolved_database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    runner = CliRunner()
    out = tmp_path / "bulletin.xlsx"
    result = runner.invoke(
        app, ["bulletin", "--region", "44", "--period", "2026-10", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    workbook = load_workbook(out)
    summary = workbook["汇总"]
    header = [c.value for c in summary[1]]
    rate = summary.cell(row=2, column=header.index("查询反馈率") + 1).value
    assert rate == pytest.approx(901 / 1010)
    csv_out = tmp_path / "bulletin.csv"
    result = runner.invoke(
        app, ["bulletin", "--region", "44", "--period", "2026-10", "--out", str(csv_out)]
    )
    assert result.exit_code == 0 and csv_out.read_bytes().startswith(b"\xef\xbb\xbf")
    bad = runner.invoke(
        app,
        ["bulletin", "--region", "44", "--period", "2026-10", "--out", str(tmp_path / "b.docx")],
    )
    assert bad.exit_code == 1
    wrong = runner.invoke(app, ["bulletin", "--region", "44", "--period", "13", "--out", str(out)])
    assert wrong.exit_code == 1 and "period" in wrong.output

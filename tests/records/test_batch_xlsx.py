"""XLSX batches (issue 21): the first sheet, a header row as in CSV (or its Chinese
labels), rows numbered as Excel shows them, bad rows reported like CSV lines."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from exchange_hub.context import HubContext
from exchange_hub.models import Record
from exchange_hub.records import checking, tabular
from tests.fixtures.hub import MemberKey
from tests.records.test_batch import checking_mode, count, person_number, push

__all__ = ["checking_mode"]  # every test runs inline and in worker processes
XLSX = tabular.XLSX_MEDIA_TYPE


def workbook(rows: list[list[Any]], *, first_sheet: list[list[Any]] | None = None) -> bytes:
    book = Workbook(write_only=True)
    if first_sheet is not None:
        sheet = book.create_sheet("说明")
        for row in first_sheet:
            sheet.append(row)
    sheet = book.create_sheet("登记")
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def register(n: int, *, labels: bool = False) -> list[list[Any]]:
    header = ["kind", "id_number", "name", "sex", "birth_date", "children_count",
              "certificate_checked", "residence_region", "moved_on"]  # fmt: skip
    if labels:
        header = [checking.COLUMN_LABELS[name] for name in header]
    rows: list[list[Any]] = [header]
    for i in range(1, n + 1):
        number = person_number(i)
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        rows.append(["outflow", number, f"王{i}", "F", born, 2, "否", "440305",
                     datetime(2026, 3, 1)])  # fmt: skip
    return rows


def test_an_xlsx_register_lands_like_a_csv(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    result = push(client, county_a, workbook(register(40)), XLSX)
    assert result.status_code == 200, result.text
    body = result.json()
    assert (body["format"], body["accepted"], body["rejected_count"]) == ("xlsx", 40, 0)
    assert body["lines"] == 41 and count(hub, Record) == 40
    again = push(client, county_a, workbook(register(40)), XLSX).json()
    assert (again["created"], again["unchanged"]) == (0, 40)  # a re-push stores no new version


def test_chinese_labels_and_the_first_sheet_only(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    rows = register(10, labels=True)
    content = workbook([["ignored"]], first_sheet=rows)  # the first sheet holds the register
    result = push(client, county_a, content, XLSX).json()
    assert result["accepted"] == 10 and count(hub, Record) == 10


def test_bad_rows_are_reported_by_their_row_number(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    rows = register(30)
    rows[4][3] = "M"  # row 5: sex against the ID number
    rows[9][1] = 110105198001010011  # row 10: an ID number typed as a number
    rows[14][6] = "maybe"  # row 15: not yes or no
    rows[19][5] = "two"  # row 20
    rows[24] = [None] * 9  # row 25: empty, skipped
    rows[27].append("extra")  # row 28: a cell beyond the header
    result = push(client, county_a, workbook(rows), XLSX).json()
    rejected = {r["line"]: r["field"] for r in result["rejected"]}
    assert rejected == {5: "sex", 10: "id_number", 15: "certificate_checked",
                        20: "children_count", 28: "body"}  # fmt: skip
    assert "文本" in next(r["detail"] for r in result["rejected"] if r["line"] == 10)
    assert result["accepted"] == 24 and count(hub, Record) == 24


def _truncated() -> bytes:
    whole = workbook(register(300))
    return whole[: len(whole) - 200]


def _without_sheet_xml() -> bytes:
    source = zipfile.ZipFile(io.BytesIO(workbook(register(3))))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            if "worksheets/sheet" not in item.filename:
                target.writestr(item, source.read(item))
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"kind,id_number\noutflow,1\n", "body"),  # a CSV sent as XLSX
        (b"PK\x03\x04 not really a zip", "body"),
        (b"", "body"),
        (workbook([]), "body"),  # an empty sheet
        (workbook([["kind", "shoe_size"], ["outflow", 42]]), "header"),
        (workbook([["kind", "登记类别"]]), "header"),  # a column twice, by name and label
        (_without_sheet_xml(), "body"),
    ],
)
def test_broken_workbooks_are_problems_not_500(
    client: TestClient, county_a: MemberKey, content: bytes, field: str
) -> None:
    response = push(client, county_a, content, XLSX)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_a_truncated_workbook_lands_nothing(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    response = push(client, county_a, _truncated(), XLSX)
    assert response.status_code == 422 and response.json()["field"] == "body"
    assert count(hub, Record) == 0


def test_the_415_lists_every_accepted_type(client: TestClient, county_a: MemberKey) -> None:
    response = push(client, county_a, b"x", "application/vnd.ms-excel")
    assert response.status_code == 415
    assert response.json()["accepted"] == ["application/x-ndjson", "text/csv", XLSX]


@pytest.mark.parametrize("word", ["是", "true", "1", "已查验"])
def test_csv_yes_no_cells_and_chinese_headers(
    client: TestClient, county_a: MemberKey, word: str
) -> None:
    """A CSV's boolean cell was refused whatever it said (strict validation of text)."""
    header = "登记类别,公民身份号码,姓名,婚育证明已查验\n"
    text = f"{header}inflow,{person_number(1)},李娜,{word}\n"
    result = push(client, county_a, text.encode(), "text/csv").json()
    assert result["rejected"] == [] and result["accepted"] == 1
    bad_row = f"{header}inflow,{person_number(2)},李娜,也许\n"
    bad = push(client, county_a, bad_row.encode(), "text/csv").json()
    assert bad["rejected"][0]["field"] == "certificate_checked"

"""The report catalogue: bundled TOML, extended by an operator's file without code changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.reports.catalogue import CatalogueError, load_catalogue
from exchange_hub.scope import DEPARTMENTS
from tests.fixtures.hub import client_for, make_context, make_member

EXTRA = """
[police]
title = "公安部门月报(本省)"
[police.items]
foreigners_registered = "境外人员住宿登记人数"

[education]
replace_items = true
[education.items]
pupils_enrolled = "流动人口子女在校生人数"
"""


def test_bundled_catalogue_covers_every_department() -> None:
    catalogue = load_catalogue()
    assert catalogue.departments == DEPARTMENTS
    police = catalogue.types["police"].items
    assert {"temporary_residence_registrations", "moved_out"} <= set(police)
    assert "births_to_non_resident_mothers" in catalogue.types["health"].items


def test_operator_file_extends_and_replaces(tmp_path: Path) -> None:
    extra = tmp_path / "reports.toml"
    extra.write_text(EXTRA, encoding="utf-8")
    catalogue = load_catalogue(extra)
    police = catalogue.types["police"]
    assert police.title == "公安部门月报(本省)"
    assert "foreigners_registered" in police.items and "moved_out" in police.items
    assert list(catalogue.types["education"].items) == ["pupils_enrolled"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[army]\n[army.items]\nsoldiers = 'x'\n", "unknown department"),
        ("[police.items]\nBad-Key = 'x'\n", "lower_snake_case"),
        ("[police.items]\nmoved_out = ''\n", "needs a label"),
        ("[police\n", "reports.toml"),
        ("[education]\nreplace_items = true\n", "has no items"),
    ],
)
def test_a_broken_operator_file_is_refused_with_the_reason(
    tmp_path: Path, text: str, reason: str
) -> None:
    extra = tmp_path / "reports.toml"
    extra.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=reason):
        load_catalogue(extra)


def test_missing_operator_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "absent.toml")


@pytest.fixture
def extended_hub(database_url: str, tmp_path: Path) -> Iterator[HubContext]:
    extra = tmp_path / "reports.toml"
    extra.write_text(EXTRA, encoding="utf-8")
    context = make_context(database_url, tmp_path / "data", report_catalogue_file=extra)
    yield context
    context.dispose()


def test_items_from_the_operator_file_are_accepted(extended_hub: HubContext) -> None:
    police = make_member(extended_hub, role="department", region="110105", department="police")
    with client_for(extended_hub) as client:
        client: TestClient
        body = {"department": "police", "region": "110105", "period": "2026-10",
                "counts": {"foreigners_registered": 4}}  # fmt: skip
        assert client.post("/api/v1/reports", json=body, headers=police.headers).status_code == 201
        listed = client.get("/api/v1/reports/catalogue", headers=police.headers).json()
    education = next(t for t in listed["items"] if t["department"] == "education")
    assert [i["key"] for i in education["items"]] == ["pupils_enrolled"]

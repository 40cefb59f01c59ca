"""Loading the arrangement: every line checked, all or nothing, through the CLI and the API."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from exchange_hub.cli import app
from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent, CalendarDay, CalendarYear
from exchange_hub.workdays_store import current_revision
from tests.fixtures.hub import MemberKey
from tests.holidays.helpers import FIXTURE, post_calendar

runner = CliRunner()
FIXTURE_DAY = date(2027, 2, 6)
HEADER = "date,kind,name\n"

# (file content, the errors expected: field → a word of the reason)
BAD_FILES = {
    "bad date": (
        HEADER + "2027-02-06,holiday,春节\n2027-02-30,holiday,春节\n2027/02/07,holiday,春节\n",
        {"lines[3].date": "YYYY-MM-DD", "lines[4].date": "YYYY-MM-DD"},
    ),
    "unknown kind": (
        HEADER + "2027-02-06,rest,春节\n",
        {"lines[2].kind": "holiday or workday"},
    ),
    "a weekday marked workday": (
        HEADER + "2027-02-06,holiday,春节\n2027-02-03,workday,春节\n",
        {"lines[3].kind": "Wednesday"},
    ),
    "a date listed twice": (
        HEADER + "2027-02-06,holiday,春节\n2027-02-07,holiday,春节\n2027-02-06,holiday,春节\n",
        {"lines[4].date": "also line 2"},
    ),
    "missing header": (
        "2027-02-06,holiday,春节\n2027-02-07,holiday,春节\n",
        {"lines[1]": "header"},
    ),
    "wrong number of fields": (
        HEADER + "2027-02-06,holiday\n2027-02-07,holiday,春节,extra\n",
        {"lines[2]": "found 2", "lines[3]": "found 4"},
    ),
    "broken quoting": (HEADER + '2027-02-06,holiday,"春节"x\n', {"lines[2]": "not valid CSV"}),
    "a control character": (HEADER + "2027-02-06,holiday,春\x00节\n", {"lines[2].name": "control"}),
    "empty file": ("", {"lines[1]": "empty"}),
    "header only": (HEADER, {"lines[2]": "no days"}),
    "year out of range": (HEADER + "1999-02-06,holiday,春节\n", {"lines[2].date": "2000"}),
    "every error at once": (
        HEADER + "2027-02-06,holiday,春节\n\n2027-13-01,holiday,x\n2027-02-03,workday,春节\n"
        "2027-02-06,holday,春节\n",
        {
            "lines[4].date": "YYYY-MM-DD",
            "lines[5].kind": "Wednesday",
            "lines[6].date": "also line 2",
            "lines[6].kind": "holiday or workday",
        },
    ),
}
ENCODINGS = {
    "GBK": ((HEADER + "2027-02-06,holiday,春节\n").encode("gbk"), {"lines[2]": "UTF-8"}),
    "invalid UTF-8": (HEADER.encode() + b"2027-02-06,holiday,\xff\xfe\n", {"lines[2]": "UTF-8"}),
}


def _cases() -> list[tuple[bytes, dict[str, str]]]:
    texts = [(text.encode(), expected) for text, expected in BAD_FILES.values()]
    return texts + list(ENCODINGS.values())


CASE_IDS = list(BAD_FILES) + list(ENCODINGS)


def _snapshot(hub: HubContext) -> tuple[int, int, int]:
    with hub.sessions() as session:
        days = session.scalar(select(func.count()).select_from(CalendarDay)) or 0
        years = session.scalar(select(func.count()).select_from(CalendarYear)) or 0
        return days, years, current_revision(session)


@pytest.mark.parametrize(("data", "expected"), _cases(), ids=CASE_IDS)
def test_the_api_refuses_bad_files_line_by_line(
    hub: HubContext, client: TestClient, admin_nation: MemberKey, data: bytes,
    expected: dict[str, str],
) -> None:  # fmt: skip
    before = _snapshot(hub)
    response = post_calendar(client, admin_nation, data)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    errors = {e["field"]: e["detail"] for e in problem["errors"]}
    assert list(errors) == list(expected)
    for field, word in expected.items():
        assert word in errors[field], (field, errors[field])
    assert problem["field"] == next(iter(expected)) and "nothing was loaded" in problem["detail"]
    assert all(e["line"] == int(e["field"][6:].split("]")[0]) for e in problem["errors"])
    assert _snapshot(hub) == before


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, hub: HubContext, database_url: str) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    monkeypatch.setenv("HUB_LOG_JSON", "false")


@pytest.mark.usefixtures("operator_env")
@pytest.mark.parametrize(("data", "expected"), _cases(), ids=CASE_IDS)
def test_the_cli_refuses_bad_files_line_by_line(
    hub: HubContext, tmp_path: Path, data: bytes, expected: dict[str, str]
) -> None:
    before = _snapshot(hub)
    file = tmp_path / "notice.csv"
    file.write_bytes(data)
    result = runner.invoke(app, ["calendar", "load", str(file)])
    assert result.exit_code == 1, result.output
    assert "nothing was loaded" in result.output
    for field in expected:
        assert f"{field}:" in result.output
    assert _snapshot(hub) == before


@pytest.mark.usefixtures("operator_env")
def test_the_cli_loads_a_file_with_a_bom_and_shows_the_year(
    hub: HubContext, tmp_path: Path
) -> None:
    file = tmp_path / "notice-2027.csv"
    file.write_bytes(b"\xef\xbb\xbf" + FIXTURE.read_bytes())
    result = runner.invoke(app, ["calendar", "load", str(file)])
    assert result.exit_code == 0, result.output
    assert "34 days added, 0 changed, 0 unchanged" in result.output
    assert "newly covered: 2027" in result.output
    again = runner.invoke(app, ["calendar", "load", str(file)])
    assert "0 days added, 0 changed, 34 unchanged" in again.output
    shown = runner.invoke(app, ["calendar", "show", "2027"])
    assert shown.exit_code == 0, shown.output
    assert "2027: covered (source file:notice-2027.csv)" in shown.output
    assert "2027-02-20" in shown.output and "补班" in shown.output and "春节" in shown.output
    fallback = runner.invoke(app, ["calendar", "show", "2028"])
    assert "2028: NOT covered" in fallback.output
    with hub.sessions() as session:
        row = session.get(CalendarDay, FIXTURE_DAY)
        assert row is not None and (row.kind, row.name, row.source) == (
            "holiday", "春节", "file:notice-2027.csv",
        )  # fmt: skip
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "calendar.load"))
        assert [(a.actor, a.detail["added"]) for a in audit] == [
            ("admin:000000:cli", 34), ("admin:000000:cli", 0),
        ]  # fmt: skip


@pytest.mark.usefixtures("operator_env")
def test_show_refuses_a_year_out_of_range() -> None:
    result = runner.invoke(app, ["calendar", "show", "1999"])
    assert result.exit_code == 1 and "2000" in result.output


def test_the_api_loads_and_reads_a_year(
    hub: HubContext, client: TestClient, admin_nation: MemberKey, county_a: MemberKey
) -> None:
    before = client.get("/api/v1/calendar/2027", headers=county_a.headers).json()
    assert (before["covered"], before["days"]) == (False, [])
    data = b"\xef\xbb\xbf" + FIXTURE.read_bytes().replace(b"\n", b"\r\n")
    response = post_calendar(client, admin_nation, data)
    assert response.status_code == 200, response.text
    loaded = response.json()
    assert (loaded["added"], loaded["changed"], loaded["unchanged"]) == (34, 0, 0)
    assert loaded["source"] == f"admin:{admin_nation.id}"
    assert loaded["years_covered"] == [2027]
    year = client.get("/api/v1/calendar/2027", headers=county_a.headers).json()
    assert year["covered"] and year["source"] == f"admin:{admin_nation.id}"
    saturday = next(d for d in year["days"] if d["date"] == "2027-02-20")
    assert saturday == {
        "date": "2027-02-20", "weekday": 6, "kind": "workday", "name": "春节",
        "source": f"admin:{admin_nation.id}",
    }  # fmt: skip
    package_year = client.get("/api/v1/calendar/2026", headers=county_a.headers).json()
    assert package_year["covered"] and package_year["source"].startswith("chinese-calendar ")


def test_a_changed_day_is_reported_with_what_it_was(
    client: TestClient, admin_nation: MemberKey
) -> None:
    first = "date,kind,name\n2027-02-06,holiday,春节\n"
    second = "date,kind,name\n2027-02-06,holiday,除夕\n2027-02-20,workday,春节\n"
    assert post_calendar(client, admin_nation, first.encode()).status_code == 200
    changed = post_calendar(client, admin_nation, second.encode()).json()
    assert [(d["date"], d["outcome"], d["previous_name"]) for d in changed["days"]] == [
        ("2027-02-06", "changed", "春节"), ("2027-02-20", "added", None),
    ]  # fmt: skip
    assert changed["newly_covered"] == []  # covered by the first file already


@pytest.mark.parametrize("who", ["province admin", "county"])
def test_only_the_nation_admin_loads(
    hub: HubContext, client: TestClient, admin_gd: MemberKey, county_a: MemberKey, who: str
) -> None:
    member = admin_gd if who == "province admin" else county_a
    before = _snapshot(hub)
    response = post_calendar(client, member, FIXTURE.read_bytes())
    assert response.status_code == 403, response.text
    assert _snapshot(hub) == before
    with hub.sessions() as session:
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "scope.refused"))
        assert [a.detail["path"] for a in refused] == ["/api/v1/calendar"]


def test_a_calendar_is_csv(client: TestClient, admin_nation: MemberKey) -> None:
    headers = {**admin_nation.headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/calendar", json={"days": []}, headers=headers)
    assert response.status_code == 415 and response.json()["field"] == "Content-Type"


@pytest.mark.parametrize("year", ["1999", "2100", "twenty"])
def test_a_year_out_of_range_is_refused(client: TestClient, county_a: MemberKey, year: str) -> None:
    response = client.get(f"/api/v1/calendar/{year}", headers=county_a.headers)
    assert response.status_code == 422 and response.json()["field"] == "year"

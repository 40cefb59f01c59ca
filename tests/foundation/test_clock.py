"""One clock for the whole hub (``exchange_hub/clock.py``)."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.models import AuditEvent

SOURCE = Path(__file__).resolve().parents[2] / "src" / "exchange_hub"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# Calls that read the machine's clock instead of the hub's.
FORBIDDEN = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}
SQL_CLOCK = re.compile(
    r"\b(now\(\)|current_timestamp|current_date|localtimestamp|clock_timestamp|"
    r"statement_timestamp|transaction_timestamp)",
    re.IGNORECASE,
)


def _clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (name, node.func.attr) in FORBIDDEN:
                found.append(
                    f"{path.relative_to(SOURCE.parent)}:{node.lineno} {name}.{node.func.attr}"
                )
    return found


def test_only_the_clock_module_reads_the_machines_clock() -> None:
    offenders = [
        line
        for path in sorted(SOURCE.rglob("*.py"))
        if path.name != "clock.py"
        for line in _clock_reads(path)
    ]
    assert offenders == []


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


def test_no_sql_asks_the_database_for_the_time() -> None:
    offenders = [
        f"{path.name}:{line} {value[:60]!r}"
        for path in [*SOURCE.rglob("*.py"), *MIGRATIONS.rglob("*.py")]
        for line, value in _code_strings(path)
        if SQL_CLOCK.search(value)
    ]
    assert offenders == []
    # and no column lets the database fill in a time
    server_defaults = [
        f"{path.name}:{line}"
        for path in [*SOURCE.rglob("*.py"), *MIGRATIONS.rglob("*.py")]
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "server_default" in text and SQL_CLOCK.search(text)
    ]
    assert server_defaults == []


def test_a_pinned_clock_ticks_on_and_a_frozen_one_does_not(clock: hub_clock.Clock) -> None:
    moment = datetime(2027, 2, 8, 2, 0, tzinfo=UTC)
    clock.pin(moment)
    first = hub_clock.now()
    assert timedelta(0) <= first - moment < timedelta(seconds=5)
    assert hub_clock.now() >= first
    assert hub_clock.today().isoformat() == "2027-02-08"
    clock.pin(moment, tick=False)
    assert hub_clock.now() == moment == hub_clock.now()
    clock.advance(timedelta(days=1))
    assert hub_clock.now() == moment + timedelta(days=1)


def test_the_shanghai_date_differs_from_the_utc_date_at_year_end(clock: hub_clock.Clock) -> None:
    clock.pin(datetime(2027, 12, 31, 16, 30, tzinfo=UTC), tick=False)  # 00:30 in Shanghai
    assert hub_clock.now().date().isoformat() == "2027-12-31"
    assert hub_clock.today().isoformat() == "2028-01-01"


def test_the_server_reads_the_pinned_clock(
    clock: hub_clock.Clock, hub: HubContext, client: TestClient
) -> None:
    """Times the hub writes come from its clock, on SQLite and PostgreSQL alike."""

    clock.pin(datetime(2031, 5, 17, 3, 0, tzinfo=UTC), tick=False)
    response = client.get("/api/v1/inbox", headers={"Authorization": "Bearer hub_nobody_x"})
    assert response.status_code == 401
    with hub.sessions() as session:
        times = {row.at for row in session.query(AuditEvent).all()}
    assert times == {datetime(2031, 5, 17, 3, 0, tzinfo=UTC)}

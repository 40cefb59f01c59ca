"""The reliability suite: marker, PostgreSQL requirement, fixtures, and the summary table.

Every test in this folder is marked ``reliability`` and skipped unless
``HUB_TEST_DATABASE_URL`` names a PostgreSQL server: the suite kills hub
processes and restarts databases, which only means something on the
production database. At the end of the session the figures of each test are
printed as a table and written to ``tests/artifacts/reliability-summary.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.database import PG_ENV, postgres_admin_url
from tests.reliability.harness import HubServer, running_hub
from tests.reliability.summary import SUMMARY, Figures

HERE = Path(__file__).resolve().parent
SKIP_REASON = (
    f"reliability suite needs PostgreSQL: set {PG_ENV}=postgresql://postgres@127.0.0.1/test"
)


def _ours(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the whole folder (before ``-m`` selects), and skip it without PostgreSQL."""
    skip = None if postgres_admin_url() else pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if _ours(item):
            item.add_marker(pytest.mark.reliability)
            if skip is not None:
                item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/reliability/" not in report.nodeid.replace("\\", "/"):
        return
    row = SUMMARY.row(report.nodeid)
    row.seconds += report.duration
    decisive = report.when == "call" or report.outcome != "passed"
    if not decisive:
        return
    if row.outcome in ("not run", "passed", "skipped"):
        row.outcome = report.outcome
    if report.when == "call" or report.when == "setup":
        row.cases += 1
        row.cases_passed += report.outcome == "passed"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    rows = [r for r in SUMMARY.rows.values() if r.outcome != "skipped"]
    if not rows:
        return
    SUMMARY.rows = {k: v for k, v in SUMMARY.rows.items() if v.outcome != "skipped"}
    path = SUMMARY.write()
    terminalreporter.section("reliability summary")
    terminalreporter.write_line(SUMMARY.markdown())
    terminalreporter.write_line(f"(written to {path})")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """This test's row of the summary table."""
    return SUMMARY.row(request.node.nodeid)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = postgres_admin_url()
    if not url:
        pytest.skip(SKIP_REASON)
    return url


@pytest.fixture
def hub_server(pg_admin_url: str, tmp_path: Path) -> Iterator[HubServer]:
    """A hub process on a fresh database of the test server."""
    with running_hub(pg_admin_url, tmp_path / "hub") as server:
        yield server

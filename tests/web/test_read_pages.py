"""The console's read pages read through the reading engine (``HUB_READ_DATABASE_URL``).

The hub here writes to one database and reads figures from another (standing in for a
streaming replica), with different traffic in each: every read page must show the
reading database's figures, send its figure queries there and none to the primary, and
say when its figures were true (数据截至). The console account, its session and the
audit rows stay on the primary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.metrics import freshness
from exchange_hub.periods import month_of
from exchange_hub.web.render import LOCAL_TIME
from tests.fixtures.database import PostgresTemplates, SqliteTemplates
from tests.fixtures.hub import client_for, make_context, make_member
from tests.web.factories import send_query
from tests.web.helpers import audit_rows, make_user, sign_in

FIGURE_TABLES = ("messages", "metrics_", "department_report", "report_pairs")
READ_PAGES = ("overview", "drilldown", "latency", "bulletin", "reports", "scorecard")


@pytest.fixture
def reading_url(templates: SqliteTemplates | PostgresTemplates, tmp_path: Path) -> Iterator[str]:
    """A second database: the one the hub reads its figures from."""
    folder = tmp_path / "reading"
    folder.mkdir()
    yield from templates.clone(folder)


@pytest.fixture
def split_hub(
    database_url: str, reading_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubContext]:
    """Writes to ``database_url``; figures from ``reading_url``. Beijing's Chaoyang was
    asked three times in the reading database, Shenzhen's Nanshan once in the primary."""
    # After its answer a figures read may fold pending changes into the aggregates: that
    # maintenance is the primary's by design (metrics.freshness); it is not the page's read.
    monkeypatch.setattr(freshness, "refresh_if_stale", lambda _hub: None)
    on_reading = make_context(reading_url, tmp_path / "data")
    for seq in ("201", "202", "203"):
        send_query(on_reading, to="110105", sender="440305", seq=seq, name="李副本")
    on_reading.dispose()
    hub = make_context(database_url, tmp_path / "data", read_database_url=reading_url)
    send_query(hub, to="440305", sender="110105", seq="101", name="王主库")
    yield hub
    hub.dispose()


@pytest.fixture
def browser(split_hub: HubContext) -> Iterator[TestClient]:
    make_user(split_hub, "admin_nation", region="000000", person_data=True)
    with client_for(split_hub) as client:
        sign_in(client, "admin_nation")
        yield client


class Statements:
    """The SQL each engine ran while ``with statements:`` was open."""

    def __init__(self, hub: HubContext) -> None:
        self.engines = {"primary": hub.engine, "reading": hub.read_sessions.kw["bind"]}
        assert self.engines["primary"] is not self.engines["reading"]
        self.seen: dict[str, list[str]] = {name: [] for name in self.engines}

    def __enter__(self) -> Statements:
        for name, engine in self.engines.items():
            event.listen(engine, "before_cursor_execute", self._recorder(name))
        return self

    def __exit__(self, *_exc: object) -> None:
        for engine in self.engines.values():
            _remove_listeners(engine)

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        def record(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
            self.seen[name].append(statement)

        record.__name__ = "statements_recorder"
        return record

    def touching_figures(self, name: str) -> list[str]:
        return [sql for sql in self.seen[name] if any(t in sql for t in FIGURE_TABLES)]


def _remove_listeners(engine: Engine) -> None:
    for listener in list(engine.dispatch.before_cursor_execute):
        if getattr(listener, "__name__", "") == "statements_recorder":
            event.remove(engine, "before_cursor_execute", listener)


def _period() -> str:
    return month_of(clock.now()).label


@pytest.mark.parametrize("page", READ_PAGES)
def test_a_read_page_queries_figures_on_the_reading_engine_only(
    browser: TestClient, split_hub: HubContext, page: str
) -> None:
    params = {"period": _period(), "region": "110105" if page == "drilldown" else "000000"}
    with Statements(split_hub) as statements:
        answer = browser.get(f"/console/{page}", params=params)
    assert answer.status_code == 200, answer.text
    assert statements.touching_figures("reading"), "the page read no figures from the replica"
    assert statements.touching_figures("primary") == []  # sessions and audit only
    stated = re.search(r'class="data-moment[^"]*">数据截至 ([0-9: -]{16})<', answer.text)
    assert stated, "the page does not say when its figures were true"
    moment = datetime.strptime(stated.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_TIME)
    assert abs((moment - clock.now()).total_seconds()) < 120  # the replica is not behind


def test_the_pages_show_the_reading_databases_traffic(
    browser: TestClient, split_hub: HubContext
) -> None:
    drilldown = browser.get(
        "/console/drilldown", params={"region": "110105", "period": _period()}
    ).text
    assert drilldown.count("李副本") == 3 and "王主库" not in drilldown
    nanshan = browser.get("/console/drilldown", params={"region": "440305", "period": _period()})
    assert "王主库" not in nanshan.text  # the primary's query is not on the replica yet
    # The unmasked names on the page are a person-data read, audited on the primary.
    rows = audit_rows(split_hub, "console.person_data_read")
    assert [row.detail["count"] for row in rows] == [3]  # type: ignore[index]


def test_the_bulletin_download_reads_the_reading_engine(
    browser: TestClient, split_hub: HubContext
) -> None:
    params = {"format": "csv", "region": "000000", "period": _period()}
    with Statements(split_hub) as statements:
        answer = browser.get("/console/bulletin/download", params=params)
    assert answer.status_code == 200, answer.text
    assert statements.touching_figures("reading") and not statements.touching_figures("primary")


@pytest.mark.parametrize("path", ["/api/v1/reports/rates", "/api/v1/reports/missing"])
def test_department_report_figures_read_the_reading_engine(
    split_hub: HubContext, path: str
) -> None:
    admin = make_member(split_hub, role="admin", region="000000")
    with client_for(split_hub) as client, Statements(split_hub) as statements:
        answer = client.get(path, params={"region": "110000", "period": _period()},
                            headers=admin.headers)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert statements.touching_figures("reading") and not statements.touching_figures("primary")
    assert datetime.fromisoformat(answer.json()["as_of"]) <= clock.now()

"""The indexes of ``records`` (migration 0008): the migration both ways,
uniqueness, and every query on the table served by an index on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, insert, inspect, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange_hub import migrations_util
from exchange_hub.context import HubContext
from exchange_hub.db import make_engine, transaction
from exchange_hub.metrics.quality import quality_by_region
from exchange_hub.models.base import new_id
from exchange_hub.models.record import Record
from exchange_hub.periods import parse_month, parse_period
from exchange_hub.records import repository
from exchange_hub.scorecard import behind, parts
from tests.metrics.factories import at, record_row

OCT = at("2026-10-10 10:00")
PERSON = "HS256.i1.0a1b"
RECORD_INDEX_NAMES = ("pk_records", "uq_records_active_person", "ix_records_id_index_retired",
                      "ix_records_county_updated", "ix_records_name_lookup")  # fmt: skip


def _record_indexes(database_url: str) -> dict[str, list[str]]:
    engine = make_engine(database_url)
    try:
        return {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("records")}
    finally:
        engine.dispose()


def test_migration_0008_goes_down_to_the_old_indexes_and_up_again(database_url: str) -> None:
    config = migrations_util.alembic_config(database_url)
    command.downgrade(config, "0007")
    assert _record_indexes(database_url) == {
        "ix_records_id_index": ["id_index"],
        "ix_records_name_lookup": ["name_index", "birth_date"],
        "uq_records_active_person": ["registering_region", "kind", "id_index"],
    }
    command.upgrade(config, "head")
    assert _record_indexes(database_url) == {
        "ix_records_county_updated": ["registering_region", "updated_at"],
        "ix_records_id_index_retired": ["id_index"],
        "ix_records_name_lookup": ["name_index", "birth_date"],
        "uq_records_active_person": ["id_index", "kind", "registering_region"],
    }


def _insert(hub: HubContext, **columns: Any) -> None:
    row = {**record_row(created_at=OCT, id_index=PERSON), "id": new_id(), **columns}
    with transaction(hub.sessions) as session:
        session.execute(insert(Record), [row])


def test_one_active_record_per_county_kind_and_person(hub: HubContext) -> None:
    _insert(hub, kind="outflow", registering_region="110105")
    with pytest.raises(IntegrityError):
        _insert(hub, kind="outflow", registering_region="110105")
    _insert(hub, kind="inflow", registering_region="110105")  # another kind
    _insert(hub, kind="outflow", registering_region="440305")  # another county
    with transaction(hub.sessions) as session:
        session.execute(
            update(Record)
            .where(Record.kind == "outflow", Record.registering_region == "110105")
            .values(status="deregistered")
        )
    _insert(hub, kind="outflow", registering_region="110105")
    _insert(hub, kind="outflow", registering_region="110105", status="deregistered")
    with pytest.raises(IntegrityError):
        _insert(hub, kind="outflow", registering_region="110105")
    with transaction(hub.sessions) as session:
        found = repository.by_id_indexes(session, [PERSON], within="")
    assert sorted(r.status for r in found) == ["active"] * 3 + ["deregistered"] * 2


# -- PostgreSQL: every read of records has an index condition -----------------
NOW = datetime(2026, 10, 12, 8, 0, tzinfo=UTC)
INDEXES = [PERSON, "HS256.i1.ffee"]

QUERIES: dict[str, Callable[[Session], object]] = {
    "find_active": lambda s: repository.find_active(
        s, registering_region="440305", kind="inflow", id_indexes=INDEXES
    ),
    "by_id_indexes": lambda s: repository.by_id_indexes(s, INDEXES, within=""),
    "by_id_indexes (a province's admin)": lambda s: repository.by_id_indexes(
        s, INDEXES, within="44"
    ),
    "by_name_indexes": lambda s: repository.by_name_indexes(s, ["n"], within=""),
    "by_name_indexes (a prefecture's admin)": lambda s: repository.by_name_indexes(
        s, ["n"], within="4403"
    ),
    "get (a county)": lambda s: repository.get(s, new_id(), within="440305"),
    "newest_active_hukou": lambda s: repository.newest_active_hukou(s, INDEXES),
    "active_outflow_exists": lambda s: repository.active_outflow_exists(s, INDEXES, "110105"),
    "newest_active_hukous": lambda s: repository.newest_active_hukous(s, INDEXES),
    "active_outflow_regions": lambda s: repository.active_outflow_regions(s, INDEXES),
    "active_in_chunk": lambda s: repository.active_in_chunk(s, "440305", [("inflow", PERSON)]),
    "rows_by_id": lambda s: repository.rows_by_id(s, [new_id()]),
    "append_batch_changes": lambda s: repository.append_batch_changes(
        s, county="440305", at=NOW, actor="test"
    ),
    "quality_by_region (province)": lambda s: quality_by_region(
        s, scope="440000", period=parse_period("2026-10"), level="county"
    ),
    "quality_by_region (county)": lambda s: quality_by_region(
        s, scope="440305", period=parse_period("2026-10"), level="county"
    ),
    "scorecard record_counts": lambda s: parts.record_counts(s, "440000", parse_month("2026-10")),
    "scorecard behind": lambda s: behind._records(s, "440305", ["2026-10"], "inflow", "adult"),
}


@contextmanager
def statements_on_records(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL (and parameters) of every statement sent that names ``records``."""
    seen: list[tuple[str, Any]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if " records" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)


@pytest.fixture
def filled(hub: HubContext, is_postgres: bool) -> HubContext:
    if not is_postgres:
        pytest.skip("plans are PostgreSQL's")
    rows = [
        record_row(kind=kind, registering_region=county, id_index=f"HS256.i1.{n:04x}",
                   created_at=OCT)
        for n in range(40) for kind in ("inflow", "outflow") for county in ("440305", "110105")
    ]  # fmt: skip
    for row in rows[::5]:
        row["status"] = "deregistered"
    with transaction(hub.sessions) as session:
        session.execute(insert(Record), rows)
        session.execute(text("ANALYZE records"))
    return hub


def whole_reads(node: dict[str, Any]) -> list[str]:
    """Plan nodes that read ``records`` or one of its indexes without an index
    condition: sequential scans, and full index scans (which ``enable_seqscan
    = off`` would otherwise let through)."""
    reads_records = (
        node.get("Relation Name") == "records" or node.get("Index Name") in RECORD_INDEX_NAMES
    )
    found = []
    if reads_records and node["Node Type"] != "Bitmap Heap Scan" and "Index Cond" not in node:
        found.append(f"{node['Node Type']} {node.get('Index Name', '')}")
    for child in node.get("Plans", []):
        found += whole_reads(child)
    return found


@pytest.mark.parametrize("name", list(QUERIES))
def test_every_query_on_records_is_served_by_an_index(filled: HubContext, name: str) -> None:
    with statements_on_records(filled.engine) as seen, transaction(filled.sessions) as session:
        QUERIES[name](session)
        session.rollback()  # append_batch_changes writes
    assert seen, f"{name} sent no statement on records"
    with filled.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for statement, parameters in seen:
            explain = "EXPLAIN (FORMAT JSON) " + statement
            plan = conn.exec_driver_sql(explain, parameters).scalar_one()[0]["Plan"]
            assert not whole_reads(plan), f"{name}: {whole_reads(plan)}\n{statement}"


def test_blind_indexes_compare_bytewise_on_postgresql(hub: HubContext, is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("SQLite compares text bytewise already")
    query = text(
        "SELECT attname, collname FROM pg_attribute JOIN pg_collation c ON c.oid = attcollation"
        " WHERE attrelid = 'records'::regclass AND attname IN ('id_index', 'name_index')"
    )
    with hub.engine.connect() as conn:
        assert dict(conn.execute(query).all()) == {"id_index": "C", "name_index": "C"}

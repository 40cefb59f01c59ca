"""Data-quality shares in the bulletin: flagged ID, missing hukou region, unmatched inflow."""

from __future__ import annotations

from sqlalchemy import insert

from exchange_hub.bulletin import build_bulletin
from exchange_hub.db import transaction
from exchange_hub.metrics.quality import period_bounds
from exchange_hub.models.record import Record
from exchange_hub.periods import parse_period
from tests.metrics.conftest import NATION_ADMIN
from tests.metrics.factories import at, record_row

OCT = at("2026-10-10 10:00")


def test_quality_shares_by_county(hub):
    rows = [
        # Nanshan: 4 inflows (1 flagged, 1 without hukou, 2 with no outflow anywhere) + 1 outflow
        record_row(created_at=OCT, id_index="A"),
        record_row(created_at=OCT, id_index="B", id_check_flagged=True),
        record_row(created_at=OCT, id_index="C", hukou_missing=True),
        record_row(created_at=OCT, id_index="D"),
        record_row(kind="outflow", created_at=OCT, id_index="E"),
        # the origin registered A and B as outflows: those inflows are matched
        record_row(kind="outflow", registering_region="411324", created_at=OCT, id_index="A"),
        record_row(kind="outflow", registering_region="411324", created_at=OCT, id_index="B"),
        # September and another province do not count
        record_row(created_at=at("2026-09-30 23:59"), id_check_flagged=True),
        record_row(registering_region="110105", created_at=OCT, id_check_flagged=True),
    ]
    with transaction(hub.sessions) as session:
        session.execute(insert(Record), rows)
    with transaction(hub.sessions) as session:
        result = build_bulletin(session, NATION_ADMIN, region="44", period="2026-10")
    table = next(t for t in result.tables if t.key == "data_quality")
    total = table.rows[0]
    nanshan = next(r for r in table.rows if r["region"] == "440305")
    assert total["region"] == "440000" and total["records"] == nanshan["records"] == 5
    assert nanshan["id_flagged_rate"] == {"numerator": 1, "denominator": 5, "rate": 0.2}
    assert nanshan["hukou_missing_rate"] == {"numerator": 1, "denominator": 4, "rate": 0.25}
    assert nanshan["unmatched_rate"] == {"numerator": 2, "denominator": 4, "rate": 0.5}
    idle = next(r for r in table.rows if r["region"] == "440106")
    assert idle["id_flagged_rate"]["rate"] is None


def test_period_bounds_are_shanghai_months():
    start, end = period_bounds(parse_period("2026-Q4"))
    assert start == at("2026-10-01 00:00") and end == at("2027-01-01 00:00")

"""The query, path and header parameters routers share, each declared once in its exact form.

The OpenAPI document is the contract member systems are generated from
(SPEC §9). A value the hub always refuses must be refused by its schema too,
and a value its schema allows must not be refused for its form (issue 15:
schemathesis's positive-data and negative-data checks). So each parameter
carries its pattern here rather than being re-declared as a bare string per
router. Rules a pattern cannot state — a code present in the catalogue, a
time not in the future, a level below the region's own — stay with the
services, which name the parameter when they refuse.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header, Path, Query

from exchange_hub.config import Settings
from exchange_hub.request_body import (
    COUNTY_CODE,
    PERIOD,
    PROVINCE_CODE,
    REGION_CODE,
    IsoDateTime,
)

# Visible ASCII, inner spaces allowed, 1–200 characters (``idempotency._check_key``).
IDEMPOTENCY_KEY = r"^[!-~]([ -~]{0,198}[!-~])?$"

Level = Literal["county", "prefecture", "province", "nation"]

RegionQuery = Annotated[
    str, Query(pattern=REGION_CODE, description="region code: 44, 4403 or 440300; 000000 = nation")
]
CountyQuery = Annotated[str, Query(pattern=COUNTY_CODE, description="county code, 6 digits")]
RegionPath = Annotated[str, Path(pattern=REGION_CODE, description="44, 4403 or 440300")]
ProvinceQuery = Annotated[str, Query(pattern=PROVINCE_CODE, description="province: 44 or 440000")]
PeriodQuery = Annotated[
    str,
    Query(
        pattern=PERIOD,
        description="month 2026-10, quarter 2026-Q4, year 2026, months 2026-06/2026-11 (Shanghai)",
    ),
]
AsOfQuery = Annotated[
    str | None,
    Query(
        description="evaluation time, not in the future: ISO date (its end) or date-time "
        "(no zone: Asia/Shanghai); default now",
        json_schema_extra={
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ]
        },
    ),
]
AsOfMoment = Annotated[
    IsoDateTime | None,
    Query(description="evaluation time (default now; no zone = Asia/Shanghai)"),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY,
        description="replays of this write with the same key and body return the first result; "
        "the same key with another body is refused (422), one still running is a 409",
    ),
]

FEED_PAGE_MINIMUM = 1000  # the change feed serves sync jobs: at least this many a page


def page_maximum(settings: Settings, *, feed: bool = False) -> int:
    """The largest ``limit`` a list takes (``HUB_MAX_PAGE_SIZE``; the change feed more)."""
    return max(settings.max_page_size, FEED_PAGE_MINIMUM) if feed else settings.max_page_size

"""What several console pages share: periods, levels, breadcrumbs, masking and charts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query
from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.audit import service as audit
from exchange_hub.masking import mask_id_number
from exchange_hub.metrics.schemas import Rate
from exchange_hub.periods import Month, parse_period
from exchange_hub.periods import previous_period as period_before
from exchange_hub.periods import year_before as same_period_a_year_before
from exchange_hub.regions import service as regions
from exchange_hub.scope import NATION, Caller
from exchange_hub.web.render import LOCAL_TIME, period_words

PeriodParam = Annotated[str | None, Query(max_length=len("2026-06/2026-11"))]
"""A page's ``period``: checked by ``chosen_period`` (a bad one is a 422 naming it)."""

CHILD_LEVEL = {"nation": "province", "province": "prefecture", "prefecture": "county"}
TREND_MONTHS = 12


def last_month(now: datetime | None = None) -> str:
    """The month admins look at by default: the last complete one (Asia/Shanghai)."""
    local = (now or clock.now()).astimezone(LOCAL_TIME)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def chosen_period(period: str | None) -> str:
    """The period asked for (validated: a bad one is a 422 naming ``period``), or last month."""
    return parse_period(period).label if period else last_month()


def previous_period(period: str) -> str | None:
    """The period just before (环比): 2026-11 → 2026-10, 2026-Q1 → 2025-Q4, 2026 → 2025.

    None when it would fall outside the years the hub accepts.
    """
    before = period_before(parse_period(period))
    return before.label if before is not None else None


def year_before(period: str) -> str | None:
    """The same period a year earlier (同比): 2026-11 → 2025-11, 2026-Q4 → 2025-Q4,
    2026-06/2026-11 → 2025-06/2025-11."""
    before = same_period_a_year_before(parse_period(period))
    return before.label if before is not None else None


def period_name(period: str, t: Callable[..., str]) -> str:
    """2026-11 → 2026年11月 / November 2026; 2026-Q4 → 2026年第4季度 / Q4 2026; 2026 → 2026年
    (``render.period_words``, the one wording of a period in the console)."""
    return period_words(parse_period(period).label, t)


def point_change(current: Rate, before: Rate | None) -> float | None:
    """``current`` minus ``before`` in percentage points, to one decimal; None ("—") when
    either side has no denominator."""
    if before is None or current.rate is None or before.rate is None:
        return None
    return round((current.rate - before.rate) * 100, 1)


def signed_points(value: float | None) -> str:
    """+1.2 / −0.5 / 0.0; "—" for no comparison."""
    if value is None:
        return "—"
    if value == 0:
        return "0.0"
    return f"+{value:.1f}" if value > 0 else f"−{-value:.1f}"


def page_url(path: str, params: Mapping[str, str | None]) -> str:
    """``path?…`` with the given parameters, leaving out empty ones."""
    kept = {key: value for key, value in params.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path


def months_back(period: str, count: int = TREND_MONTHS) -> list[str]:
    """``count`` months ending with the last month of ``period``, oldest first."""
    month: Month = parse_period(period).last
    months = []
    for _ in range(count):
        months.append(month.label)
        month = month.preceding()
    return [m for m in reversed(months) if m >= "2000-01"]


def child_level(level: str) -> str:
    return CHILD_LEVEL.get(level, "county")


def breadcrumbs(session: Session, caller: Caller, code: str) -> list[dict[str, str]]:
    """From the caller's own region down to ``code``: 全国 → 省 → 市 → 县."""
    trail = []
    current = regions.get_region(session, code)
    while True:
        trail.append({"code": current.code, "name": current.name, "level": current.level})
        if current.code in (caller.region, NATION) or current.parent is None:
            break
        current = regions.get_region(session, current.parent)
    return list(reversed(trail))


def mask_name(name: str | None) -> str:
    """张三丰 → 张**: enough to tell cases apart on a screen, not to identify anyone."""
    if not name:
        return "—"
    return name[0] + "*" * (len(name) - 1)


def subject_for(caller: Caller, content: dict[str, Any] | None) -> dict[str, str]:
    """The subject's ID number and name, masked unless the account holds the person-data grant."""
    subject = (content or {}).get("subject") or {}
    id_number, name = str(subject.get("id_number") or ""), subject.get("name")
    if caller.person_data_grant:
        return {"id_number": id_number or "—", "name": name or "—", "masked": ""}
    return {
        "id_number": mask_id_number(id_number) if id_number else "—",
        "name": mask_name(name),
        "masked": "1",
    }


def audit_person_data_read(
    session: Session, caller: Caller, ids: list[uuid.UUID], *, page: str
) -> None:
    """Unmasked person data on a console page is a read of person data (SPEC §6): audited."""
    if not ids or not caller.person_data_grant:
        return
    audit.record(
        session,
        audit.entry_for(
            caller,
            "console.person_data_read",
            object_type="message",
            object_id=str(ids[0]) if len(ids) == 1 else None,
            request_id=session.info.get("request_id"),
            detail={"page": page, "count": len(ids), "ids": [str(i) for i in ids[:100]]},
        ),
    )


def percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def line_chart(
    months: list[str], series: dict[str, list[float | None]], unit: str = "%"
) -> dict[str, Any]:
    """A Plotly spec for rates over months; a month with no denominator leaves a gap."""
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": months,
            "y": values,
            "connectgaps": False,
        }
        for name, values in series.items()
    ]
    layout = {"yaxis": {"ticksuffix": unit, "range": [0, 105]}, "xaxis": {"type": "category"}}
    return {"data": data, "layout": layout}


def bar_chart(
    categories: list[str], series: dict[str, list[float | None]], unit: str
) -> dict[str, Any]:
    data = [
        {"type": "bar", "name": name, "x": categories, "y": values}
        for name, values in series.items()
    ]
    layout = {"barmode": "group", "yaxis": {"ticksuffix": unit, "rangemode": "tozero"}}
    return {"data": data, "layout": layout}

"""Exchange figures per region and period (SPEC §5): rates, roll-ups, matrix, latency.

Roll-ups add numerators and denominators (``Tally``); a rate is only ever
computed at the end, so a province of two cities at 900/1000 and 1/10 shows
901/1010 = 89.2 %, never the 50 % an average of rates would give.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange_hub.errors import Forbidden, InvalidInput
from exchange_hub.members.scope import Caller, require_admin_over
from exchange_hub.metrics import aggregates, histogram
from exchange_hub.metrics.definitions import LEGS, Tally
from exchange_hub.metrics.figures import Figures, code_range, load_figures
from exchange_hub.metrics.periods import Period, parse_as_of, parse_period
from exchange_hub.metrics.schemas import (
    ExchangeReport,
    LatencyReport,
    LegLatency,
    MatrixEntry,
    NotificationFigures,
    QueryFigures,
    RegionFigures,
    RegionLatency,
    make_rate,
)
from exchange_hub.models import Region
from exchange_hub.models.base import utcnow
from exchange_hub.regions.service import get_region

LEVELS = ("nation", "province", "prefecture", "county")
ROLES = ("responder", "requester")


@dataclass(frozen=True)
class Request:
    """A validated figures request: where, when, at which level, from which side."""

    region: Region
    period: Period
    as_of: datetime
    level: str
    role: str


def level_key(code: str, level: str) -> str:
    """The region at ``level`` that contains county ``code``."""
    if level == "county":
        return code
    if level == "prefecture":
        return code[:4] + "00"
    if level == "province":
        return code[:2] + "0000"
    return "000000"


def default_level(region_level: str) -> str:
    return "province" if region_level == "nation" else "county"


def require_figures_reader(caller: Caller, region: Region) -> None:
    """Admins read inside their scope; a county system reads its own county only (SPEC §6)."""
    if caller.role == "county" and region.code == caller.region:
        return
    if caller.role == "county":
        raise Forbidden(f"a county system reads only its own figures ({caller.region})", "region")
    require_admin_over(caller, region.code)


def prepare(
    session: Session,
    caller: Caller,
    *,
    region: str,
    period: str,
    level: str | None,
    role: str,
    as_of: str | None,
    now: datetime | None = None,
) -> Request:
    """Validate every input, check scope, and bring the aggregates up to date."""
    found = get_region(session, region, field="region")
    require_figures_reader(caller, found)
    parsed_period = parse_period(period)
    moment = parse_as_of(as_of, now or utcnow())
    chosen = level or default_level(found.level)
    if chosen not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", field="level")
    if LEVELS.index(chosen) < LEVELS.index(found.level):
        raise InvalidInput(f"level {chosen} is above the region's own level", field="level")
    if role not in ROLES:
        raise InvalidInput("role must be responder or requester", field="role")
    aggregates.refresh(session)
    return Request(found, parsed_period, moment, chosen, role)


# -- exchange rates ---------------------------------------------------------------------
def exchange_report(session: Session, caller: Caller, **inputs: object) -> ExchangeReport:
    request = prepare(session, caller, **inputs)  # type: ignore[arg-type]
    figures = load_figures(
        session, role=request.role, months=request.period.months,
        scope=request.region.code, as_of=request.as_of,
    )  # fmt: skip
    return build_exchange_report(session, request, figures)


def build_exchange_report(session: Session, request: Request, figures: Figures) -> ExchangeReport:
    by_item: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    by_cell: dict[tuple[str, str], dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    total: dict[str, Tally] = defaultdict(Tally)
    for (county, counterpart, kind), tally in figures.tallies.items():
        item = level_key(county, request.level)
        by_item[item][kind].add(tally)
        by_cell[(item, counterpart)][kind].add(tally)
        total[kind].add(tally)
    names = region_names(session, request.region.code, request.level, by_item)
    counterpart_names = _province_names(session)
    items = [_region_figures(code, names.get(code, code), request.level, by_item[code])
             for code in sorted(set(names) | set(by_item))]  # fmt: skip
    matrix = [
        MatrixEntry(
            region=item, counterpart=counterpart,
            counterpart_name=counterpart_names.get(counterpart, counterpart),
            queries=query_figures(kinds["query"]),
            notifications=notification_figures(kinds["notification"]),
        )
        for (item, counterpart), kinds in sorted(by_cell.items())
    ]  # fmt: skip
    region = request.region
    return ExchangeReport(
        region=region.code, name=region.name, period=request.period.label,
        months=list(request.period.months), as_of=request.as_of, role=request.role,  # type: ignore[arg-type]
        level=request.level,  # type: ignore[arg-type]
        total=_region_figures(region.code, region.name, region.level, total),
        items=items, matrix=matrix,
    )  # fmt: skip


def query_figures(tally: Tally) -> QueryFigures:
    return QueryFigures(
        routed=tally.routed,
        due=tally.due,
        answered=tally.answered,
        answered_on_time=tally.answered_on_time,
        not_found=tally.not_found,
        overdue=tally.overdue,
        feedback_rate=make_rate(tally.answered, tally.due),
        not_found_rate=make_rate(tally.not_found, tally.answered),
        timely_rate=make_rate(tally.answered_on_time, tally.due),
    )


def notification_figures(tally: Tally) -> NotificationFigures:
    return NotificationFigures(
        routed=tally.routed,
        due=tally.receipt_due,
        received=tally.received,
        overdue=tally.receipt_overdue,
        receipt_rate=make_rate(tally.received, tally.receipt_due),
    )


def _region_figures(code: str, name: str, level: str, kinds: dict[str, Tally]) -> RegionFigures:
    return RegionFigures(
        region=code, name=name, level=level,  # type: ignore[arg-type]
        queries=query_figures(kinds.get("query", Tally())),
        notifications=notification_figures(kinds.get("notification", Tally())),
    )  # fmt: skip


# -- latency ------------------------------------------------------------------------------
def latency_report(session: Session, caller: Caller, **inputs: object) -> LatencyReport:
    request = prepare(session, caller, **inputs)  # type: ignore[arg-type]
    figures = load_figures(
        session, role=request.role, months=request.period.months,
        scope=request.region.code, as_of=request.as_of,
    )  # fmt: skip
    return build_latency_report(session, request, figures)


def build_latency_report(session: Session, request: Request, figures: Figures) -> LatencyReport:
    by_item: dict[str, dict[tuple[str, str], dict[int, int]]] = defaultdict(dict)
    total: dict[tuple[str, str], dict[int, int]] = {}
    for (county, kind, leg), buckets in figures.latency.items():
        item = level_key(county, request.level)
        _merge_into(by_item[item], (kind, leg), buckets)
        _merge_into(total, (kind, leg), buckets)
    names = region_names(session, request.region.code, request.level, by_item)
    region = request.region
    return LatencyReport(
        region=region.code, name=region.name, period=request.period.label,
        months=list(request.period.months), as_of=request.as_of, role=request.role,  # type: ignore[arg-type]
        level=request.level,  # type: ignore[arg-type]
        relative_error=histogram.RELATIVE_ERROR,
        total=_region_latency(region.code, region.name, region.level, total),
        items=[_region_latency(code, names.get(code, code), request.level, by_item.get(code, {}))
               for code in sorted(set(names) | set(by_item))],
    )  # fmt: skip


def _merge_into(
    target: dict[tuple[str, str], dict[int, int]], key: tuple[str, str], buckets: dict[int, int]
) -> None:
    merged = target.setdefault(key, {})
    for index, count in buckets.items():
        merged[index] = merged.get(index, 0) + count


def leg_latency(leg: str, buckets: dict[int, int]) -> LegLatency:
    live = {index: count for index, count in buckets.items() if count}
    return LegLatency(
        leg=leg,  # type: ignore[arg-type]
        count=sum(live.values()),
        median_seconds=histogram.percentile(live, 0.5),
        p90_seconds=histogram.percentile(live, 0.9),
        p99_seconds=histogram.percentile(live, 0.99),
    )


def _region_latency(
    code: str, name: str, level: str, legs: dict[tuple[str, str], dict[int, int]]
) -> RegionLatency:
    return RegionLatency(
        region=code, name=name, level=level,  # type: ignore[arg-type]
        queries=[leg_latency(leg, legs.get(("query", leg), {})) for leg in LEGS],
        notifications=[leg_latency(leg, legs.get(("notification", leg), {})) for leg in LEGS],
    )  # fmt: skip


# -- names --------------------------------------------------------------------------------
def region_names(
    session: Session, scope: str, level: str, present: Iterable[str]
) -> dict[str, str]:
    """Names of the current regions at ``level`` inside ``scope`` (all listed, even idle ones)."""
    query = select(Region.code, Region.name).where(Region.level == level, Region.active.is_(True))
    bounds = code_range(scope)
    if bounds is not None:
        query = query.where(Region.code >= bounds[0], Region.code < bounds[1])
    names = dict(session.execute(query).all())
    missing = [code for code in present if code not in names]
    if missing:
        found = select(Region.code, Region.name).where(Region.code.in_(missing))
        names.update(dict(session.execute(found).all()))
    return names


def _province_names(session: Session) -> dict[str, str]:
    query = select(Region.code, Region.name).where(Region.level == "province")
    return dict(session.execute(query).all())

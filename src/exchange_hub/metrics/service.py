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

from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.db import data_moment
from exchange_hub.errors import Forbidden, InvalidInput
from exchange_hub.metrics import histogram, repository
from exchange_hub.metrics.definitions import LEGS, Tally
from exchange_hub.metrics.figures import Figures, Selection, load_figures
from exchange_hub.metrics.periods import parse_as_of
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
from exchange_hub.periods import Period, parse_period
from exchange_hub.regions.service import get_region
from exchange_hub.scope import Caller, require_admin_over

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


def default_level(region_level: str) -> str:
    return "province" if region_level == "nation" else "county"


def require_figures_reader(caller: Caller, region: Region) -> None:
    """Admins read inside their scope; a county system reads its own county only (SPEC §6)."""
    if caller.role == "county" and region.code == caller.region:
        return
    if caller.role == "county":
        raise Forbidden(
            f"a county system reads only its own figures ({caller.region})", field="region"
        )
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
    """Validate every input and check scope (reading the figures writes nothing).

    On a lagging replica "now" is the moment its data reached (``as_of`` in the
    answer says so): figures never claim rows the replica has not replayed yet.
    """
    now = now or clock.now()
    reached = data_moment(session, None, now)
    found = get_region(session, region, field="region")
    require_figures_reader(caller, found)
    parsed_period = parse_period(period)
    moment = min(parse_as_of(as_of, now), reached)
    chosen = level or default_level(found.level)
    if chosen not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", field="level")
    if LEVELS.index(chosen) < LEVELS.index(found.level):
        raise InvalidInput(f"level {chosen} is above the region's own level", field="level")
    if role not in ROLES:
        raise InvalidInput("role must be responder or requester", field="role")
    return Request(found, parsed_period, moment, chosen, role)


# -- roll-up ------------------------------------------------------------------------------
@dataclass
class Rollup:
    """Figures summed to the requested level: per item, per item × counterpart, and in total."""

    items: dict[str, dict[str, Tally]]
    cells: dict[tuple[str, str], dict[str, Tally]]
    total: dict[str, Tally]
    latency: dict[str, dict[tuple[str, str], dict[int, int]]]
    total_latency: dict[tuple[str, str], dict[int, int]]
    names: dict[str, str]


def roll_up(session: Session, request: Request, figures: Figures) -> Rollup:
    """Arrange the summed figures by region; the total adds counts (never rates) once more."""
    items: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    cells: dict[tuple[str, str], dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    total: dict[str, Tally] = defaultdict(Tally)
    for (item, kind), tally in figures.items.items():
        items[item][kind].add(tally)
        total[kind].add(tally)
    for (item, counterpart, kind), tally in figures.cells.items():
        cells[(item, counterpart)][kind].add(tally)
    latency: dict[str, dict[tuple[str, str], dict[int, int]]] = defaultdict(dict)
    total_latency: dict[tuple[str, str], dict[int, int]] = {}
    for (item, kind, leg), buckets in figures.latency.items():
        latency[item][(kind, leg)] = buckets  # already summed to the item by load_figures
        _merge_into(total_latency, (kind, leg), buckets)
    names = region_names(session, request.region.code, request.level, [*items, *latency])
    for code in names:
        items[code]  # every region under the admin is listed, idle ones too
    return Rollup(items, cells, total, latency, total_latency, names)


def figures_for(
    session: Session,
    request: Request,
    *,
    matrix_level: str | None = None,
    with_latency: bool = True,
    latency_legs: tuple[tuple[str, str], ...] | None = None,
) -> Rollup:
    selection = Selection(
        role=request.role, months=list(request.period.labels), scope=request.region.code,
        as_of=request.as_of, level=request.level, matrix_level=matrix_level,
        with_latency=with_latency, latency_legs=latency_legs,
    )  # fmt: skip
    return roll_up(session, request, load_figures(session, selection))


# -- exchange rates ---------------------------------------------------------------------
def exchange_report(session: Session, caller: Caller, **inputs: object) -> ExchangeReport:
    request = prepare(session, caller, **inputs)  # type: ignore[arg-type]
    rollup = figures_for(session, request, matrix_level=request.level, with_latency=False)
    return build_exchange_report(session, request, rollup)


def build_exchange_report(session: Session, request: Request, rollup: Rollup) -> ExchangeReport:
    counterpart_names = province_names(session)
    items = [_region_figures(code, rollup.names.get(code, code), request.level, kinds)
             for code, kinds in sorted(rollup.items.items())]  # fmt: skip
    matrix = [
        MatrixEntry.model_construct(
            region=item, counterpart=counterpart,
            counterpart_name=counterpart_names.get(counterpart, counterpart),
            queries=query_figures(kinds["query"]),
            notifications=notification_figures(kinds["notification"]),
        )
        for (item, counterpart), kinds in sorted(rollup.cells.items())
    ]  # fmt: skip
    region = request.region
    return ExchangeReport(
        region=region.code, name=region.name, period=request.period.label,
        months=list(request.period.labels), as_of=request.as_of, role=request.role,
        level=request.level,
        total=_region_figures(region.code, region.name, region.level, rollup.total),
        items=items, matrix=matrix,
    )  # fmt: skip


def query_figures(tally: Tally) -> QueryFigures:
    return QueryFigures.model_construct(
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
    return NotificationFigures.model_construct(
        routed=tally.routed,
        due=tally.receipt_due,
        received=tally.received,
        overdue=tally.receipt_overdue,
        receipt_rate=make_rate(tally.received, tally.receipt_due),
    )


def _region_figures(code: str, name: str, level: str, kinds: dict[str, Tally]) -> RegionFigures:
    return RegionFigures.model_construct(
        region=code, name=name, level=level,  # type: ignore[arg-type]
        queries=query_figures(kinds.get("query", Tally())),
        notifications=notification_figures(kinds.get("notification", Tally())),
    )  # fmt: skip


# -- latency ------------------------------------------------------------------------------
def latency_report(session: Session, caller: Caller, **inputs: object) -> LatencyReport:
    request = prepare(session, caller, **inputs)  # type: ignore[arg-type]
    return build_latency_report(request, figures_for(session, request))


def build_latency_report(request: Request, rollup: Rollup) -> LatencyReport:
    region = request.region
    codes = sorted(set(rollup.names) | set(rollup.latency))
    return LatencyReport(
        region=region.code, name=region.name, period=request.period.label,
        months=list(request.period.labels), as_of=request.as_of, role=request.role,
        level=request.level,
        relative_error=histogram.RELATIVE_ERROR,
        total=_region_latency(region.code, region.name, region.level, rollup.total_latency),
        items=[_region_latency(code, rollup.names.get(code, code), request.level,
                               rollup.latency.get(code, {})) for code in codes],
    )  # fmt: skip


def _merge_into(
    target: dict[tuple[str, str], dict[int, int]], key: tuple[str, str], buckets: dict[int, int]
) -> None:
    merged = target.setdefault(key, {})
    for index, count in buckets.items():
        merged[index] = merged.get(index, 0) + count


def leg_latency(leg: str, buckets: dict[int, int]) -> LegLatency:
    live = {index: count for index, count in buckets.items() if count}
    return LegLatency.model_construct(
        leg=leg,  # type: ignore[arg-type]
        count=sum(live.values()),
        median_seconds=histogram.percentile(live, 0.5),
        p90_seconds=histogram.percentile(live, 0.9),
        p99_seconds=histogram.percentile(live, 0.99),
    )


def _region_latency(
    code: str, name: str, level: str, legs: dict[tuple[str, str], dict[int, int]]
) -> RegionLatency:
    return RegionLatency.model_construct(
        region=code, name=name, level=level,  # type: ignore[arg-type]
        queries=[leg_latency(leg, legs.get(("query", leg), {})) for leg in LEGS],
        notifications=[leg_latency(leg, legs.get(("notification", leg), {})) for leg in LEGS],
    )  # fmt: skip


# -- names --------------------------------------------------------------------------------
def region_names(
    session: Session, scope: str, level: str, present: Iterable[str]
) -> dict[str, str]:
    """Names of the current regions at ``level`` inside ``scope`` (all listed, even idle ones)."""
    names = repository.active_region_names(session, scope, level)
    missing = [code for code in present if code not in names]
    if missing:
        names.update(repository.names_of_regions(session, missing))
    return names


def province_names(session: Session) -> dict[str, str]:
    return repository.province_names(session)

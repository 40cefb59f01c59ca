"""The two-way assessment (双向考核): each region judged as destination and as origin.

Scores: an indicator's attainment is rate / target capped at 1 (for a
"lower is better" indicator, target / rate capped at 1); a role's score is
the weighted mean attainment of its own and the shared indicators that have a
rate, on the weights of those indicators only (no data is never 100%), and
there is none when none of the role's own indicators has a rate; the overall
score weighs the roles that have a score (destination more, by default).
A region is 达标 only when the overall score reaches the pass mark **and**
every indicator that has a rate meets its target: a good average never hides
an unmet indicator. ``reasons`` says why, line by line. Rates themselves are
never averaged: every region's rates come from its summed numerators and
denominators. The rules in words are ``indicators.toml`` ``[rules]``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy.orm import Session

from exchange_hub.metrics import service as metrics
from exchange_hub.metrics.figures import level_key
from exchange_hub.regions import service as regions
from exchange_hub.scope import Caller, scope_prefix
from exchange_hub.scorecard.config import (
    Indicator,
    ScoreConfig,
    config_for,
    default_config,
    province_of,
)
from exchange_hub.scorecard.parts import Part, compute_parts
from exchange_hub.scorecard.schemas import (
    IndicatorResult,
    RegionScorecard,
    ScorecardReport,
    Status,
    VerdictReason,
)


def scorecard_report(
    session: Session,
    caller: Caller,
    *,
    region: str,
    period: str,
    level: str | None,
    as_of: str | None,
    now: datetime | None = None,
) -> ScorecardReport:
    request = metrics.prepare(
        session, caller, region=region, period=period, level=level, role="responder",
        as_of=as_of, now=now,
    )  # fmt: skip
    return build_scorecard(session, request)


def build_scorecard(session: Session, request: metrics.Request) -> ScorecardReport:
    """The scorecard of a validated, scope-checked request (also the bulletin's sheet)."""
    top = request.region
    months = list(request.period.labels)
    parts = compute_parts(
        session, scope=top.code, counties=county_codes(session, top.code), months=months,
        as_of=request.as_of, config=default_config(),
    )  # fmt: skip
    grouped: dict[str, dict[str, Part]] = defaultdict(lambda: defaultdict(Part))
    total: dict[str, Part] = defaultdict(Part)
    for county, by_indicator in parts.items():
        group = level_key(county, request.level)
        for key, part in by_indicator.items():
            grouped[group][key].add(part)
            total[key].add(part)
    names = metrics.region_names(session, top.code, request.level, grouped.keys())
    configs = _Configs(session)
    rows = [
        evaluate(code, names.get(code, code), request.level, grouped[code], configs.of(code))
        for code in sorted(grouped)
    ]
    return ScorecardReport(
        region=top.code, name=top.name, period=request.period.label, months=months,
        as_of=request.as_of, level=request.level,
        total=evaluate(top.code, top.name, top.level, total, configs.of(top.code)), rows=rows,
    )  # fmt: skip


def county_codes(session: Session, scope: str) -> list[str]:
    """The current counties inside ``scope``."""
    return regions.current_counties_under(session, scope_prefix(scope))


class _Configs:
    """Each province's effective configuration, read once per report."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[str, ScoreConfig] = {}

    def of(self, code: str) -> ScoreConfig:
        if code == "000000":
            return default_config()
        province = province_of(code)
        if province not in self.cache:
            self.cache[province] = config_for(self.session, province)
        return self.cache[province]


def evaluate(
    code: str, name: str, level: str, parts: dict[str, Part], config: ScoreConfig
) -> RegionScorecard:
    results = [
        judge(indicator, parts.get(indicator.key, Part())) for indicator in config.indicators
    ]
    destination = role_score(results, "destination")
    origin = role_score(results, "origin")
    overall = _weighted([(destination, config.destination_weight), (origin, config.origin_weight)])
    met, reasons = verdict(results, overall, config.overall_target)
    return RegionScorecard(
        region=code, name=name, level=level, indicators=results,
        destination_score=destination, origin_score=origin, overall_score=overall,
        destination_weight=config.destination_weight, origin_weight=config.origin_weight,
        overall_target=config.overall_target, overall_met=met, reasons=reasons,
    )  # fmt: skip


def verdict(
    results: list[IndicatorResult], overall: float | None, pass_mark: float
) -> tuple[bool | None, list[VerdictReason]]:
    """达标 or not, and why: the score must reach the pass mark and no indicator may miss."""
    problems = [
        VerdictReason(code="data_problem", key=r.key, status=r.status, numerator=r.numerator,
                      denominator=r.denominator)
        for r in results
        if r.status in ("no_report", "inconsistent")
    ]  # fmt: skip
    if overall is None:
        return None, [VerdictReason(code="no_score"), *problems]
    failing: list[VerdictReason] = []
    if overall * 100 < pass_mark:
        failing.append(VerdictReason(code="score_below_target", rate=overall, target=pass_mark))
    failing += [
        VerdictReason(code="indicator_below_target", key=r.key, rate=r.rate, target=r.target,
                      direction=r.direction)
        for r in results
        if r.met is False
    ]  # fmt: skip
    if failing:
        return False, [*failing, *problems]
    judged = sum(1 for r in results if r.met is not None)
    passed = VerdictReason(code="all_met", rate=overall, target=pass_mark, count=judged)
    return True, [passed, *problems]


def judge(indicator: Indicator, part: Part) -> IndicatorResult:
    status = _status(indicator, part)
    rate = part.numerator / part.denominator if status == "ok" else None
    return IndicatorResult(
        key=indicator.key, role=indicator.role, zh=indicator.zh, en=indicator.en,
        numerator=part.numerator, denominator=part.denominator, rate=rate,
        target=indicator.target, weight=indicator.weight, direction=indicator.direction,
        met=None if rate is None else _meets(indicator, rate), status=status,
        report=indicator.report, months_without_report=part.missing if indicator.report else 0,
    )  # fmt: skip


def _status(indicator: Indicator, part: Part) -> Status:
    """Why an indicator has no rate, or ``ok``: a 4/0 is a data problem, not "no data"."""
    if indicator.report is not None and part.reported == 0:
        return "no_report" if part.missing else "not_due" if part.pending else "no_data"
    if part.denominator == 0:
        return "inconsistent" if part.numerator else "no_data"
    return "ok"


def _meets(indicator: Indicator, rate: float) -> bool:
    percent = rate * 100
    return (
        percent >= indicator.target
        if indicator.direction == "higher"
        else percent <= indicator.target
    )


def attainment(result: IndicatorResult) -> float | None:
    if result.rate is None:
        return None
    percent = result.rate * 100
    if result.direction == "higher":
        return 1.0 if result.target <= 0 else min(1.0, percent / result.target)
    return 1.0 if percent <= result.target else result.target / percent


def role_score(results: list[IndicatorResult], role: str) -> float | None:
    """Weighted attainment of the role's own and the shared indicators that have a rate;
    ``None`` when none of the role's own has one (shared figures alone judge no role)."""
    if all(r.rate is None for r in results if r.role == role):
        return None
    return _weighted([(attainment(r), r.weight) for r in results if r.role in (role, "both")])


def _weighted(values: list[tuple[float | None, float]]) -> float | None:
    present = [(value, weight) for value, weight in values if value is not None and weight > 0]
    total = sum(weight for _, weight in present)
    if total == 0:
        return None
    return sum(value * weight for value, weight in present) / total

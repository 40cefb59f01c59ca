"""The scorecard's targets of the exchange rates, for charts that draw them (console trend).

Which indicator judges which rate comes from ``parts.EXCHANGE_RATIOS`` (the
scorecard's own definition), so a chart's target line is the one the scorecard
applies: a province's own target when it set one, the shipped default otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from exchange_hub.scope import NATION, Caller, require_admin_over
from exchange_hub.scorecard.config import config_for, default_config, province_of
from exchange_hub.scorecard.parts import EXCHANGE_RATIOS

RATE_OF_PARTS = {
    ("query", "answered", "due"): "feedback_rate",
    ("query", "answered_on_time", "due"): "timely_rate",
    ("query", "not_found", "answered"): "not_found_rate",
    ("notification", "received", "receipt_due"): "receipt_rate",
}
"""(kind, numerator, denominator) → the rate's name in ``metrics.schemas``."""


@dataclass(frozen=True)
class RateTarget:
    indicator: str
    target: float
    """In percent."""
    direction: str
    """``higher``: the rate should reach the target; ``lower``: stay at or below it."""


def exchange_targets(
    session: Session, caller: Caller, *, region: str, role: str
) -> dict[str, RateTarget]:
    """The targets of ``region`` (its province's configuration) for the exchange rates of
    ``role`` (``responder`` or ``requester``), keyed by rate name; a rate no indicator
    judges from that side has none."""
    require_admin_over(caller, region)
    config = default_config() if region == NATION else config_for(session, province_of(region))
    targets = {}
    for key, (side, kind, numerator, denominator) in EXCHANGE_RATIOS.items():
        indicator = config.indicator(key)
        rate = RATE_OF_PARTS.get((kind, numerator, denominator))
        if side == role and indicator is not None and rate is not None:
            targets[rate] = RateTarget(key, indicator.target, indicator.direction)
    return targets

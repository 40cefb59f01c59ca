"""A province's own targets and weights, read and changed by its admins (audited)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from exchange_hub import clock
from exchange_hub.audit import service as audit
from exchange_hub.errors import InvalidInput
from exchange_hub.models.scorecard import ScorecardSetting
from exchange_hub.regions import service as regions
from exchange_hub.scope import Caller, require_admin_over
from exchange_hub.scorecard import repository
from exchange_hub.scorecard.config import OVERALL_KEY, ROLE_KEYS, default_config

OPERATOR = "operator:cli"


def _province(session: Session, code: str) -> str:
    region = regions.get_region(session, code, field="province")
    if region.level != "province":
        raise InvalidInput(f"{region.code} ({region.name}) is not a province", field="province")
    return region.code


def _check_values(key: str, target: float | None, weight: float | None) -> None:
    if key not in default_config().keys + ROLE_KEYS + (OVERALL_KEY,):
        raise InvalidInput(f"unknown indicator {key!r}", field="key")
    if key in ROLE_KEYS and target is not None:
        raise InvalidInput("a role has a weight, not a target", field="target")
    if key == OVERALL_KEY and weight is not None:
        raise InvalidInput("the overall score has a target, not a weight", field="weight")
    if target is None and weight is None:
        raise InvalidInput("give a target, a weight or both", field="target")


def list_settings(
    session: Session, caller: Caller | None, province: str
) -> Sequence[ScorecardSetting]:
    code = _province(session, province)
    if caller is not None:
        require_admin_over(caller, code, field="province")
    return repository.settings_of(session, code)


def change_setting(
    session: Session,
    caller: Caller | None,
    *,
    province: str,
    key: str,
    target: float | None,
    weight: float | None,
) -> ScorecardSetting:
    """Set a province's target/weight; ``caller`` None is the operator's command line."""
    code = _province(session, province)
    if caller is not None:
        require_admin_over(caller, code, field="province")
    _check_values(key, target, weight)
    row = session.get(ScorecardSetting, (code, key))
    before = None if row is None else {"target": row.target, "weight": row.weight}
    if row is None:
        row = ScorecardSetting(province=code, key=key)
        session.add(row)
    if target is not None:
        row.target = target
    if weight is not None:
        row.weight = weight
    row.changed_by = caller.label if caller else OPERATOR
    row.changed_at = clock.now()
    session.flush()
    entry = audit.entry_for(
        caller, "scorecard.setting", object_type="scorecard_setting", object_id=f"{code}:{key}",
        request_id=session.info.get("request_id"),
        detail={"before": before, "after": {"target": row.target, "weight": row.weight}},
    )  # fmt: skip
    if caller is None:
        entry.actor = OPERATOR
    audit.record(session, entry)
    return row

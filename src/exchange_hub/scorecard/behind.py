"""What lies behind an indicator: the records or messages counted in its numerator or denominator.

Only identifiers, dates and the flags that made an item count are listed,
never person data. Figures that come from department reports are listed by
the reports API instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from exchange_hub.errors import InvalidInput
from exchange_hub.metrics import service as metrics
from exchange_hub.metrics.definitions import tally_message
from exchange_hub.models import Message
from exchange_hub.periods import parse_month
from exchange_hub.scope import Caller
from exchange_hub.scorecard import repository
from exchange_hub.scorecard.config import default_config
from exchange_hub.scorecard.parts import EXCHANGE_RATIOS, adult_born_by
from exchange_hub.scorecard.schemas import BehindItem, BehindPage

RECORD_PARTS = {
    ("certificate_check_rate", "numerator"): ("inflow", "checked"),
    ("certificate_check_rate", "denominator"): ("inflow", "adult"),
    ("certificate_issue_rate", "numerator"): ("outflow", "certified"),
    ("certificate_issue_rate", "denominator"): ("outflow", "adult"),
    ("inflow_registration_rate", "numerator"): ("inflow", "all"),
    ("outflow_registration_rate", "numerator"): ("outflow", "all"),
}


def behind(
    session: Session,
    caller: Caller,
    *,
    region: str,
    period: str,
    indicator: str,
    part: str,
    cursor: int,
    limit: int,
    as_of: str | None = None,
) -> BehindPage:
    request = metrics.prepare(
        session, caller, region=region, period=period, level=None, role="responder", as_of=as_of
    )
    if request.region.level != "county":
        raise InvalidInput("items are listed for one county; drill down first", field="region")
    if default_config().indicator(indicator) is None:
        raise InvalidInput(f"unknown indicator {indicator!r}", field="indicator")
    if part not in ("numerator", "denominator"):
        raise InvalidInput("part is numerator or denominator", field="part")
    county, months = request.region.code, list(request.period.labels)
    if (indicator, part) in RECORD_PARTS:
        items = _records(session, county, months, *RECORD_PARTS[(indicator, part)])
    elif indicator == "information_submission_rate" and part == "numerator":
        items = _birth_notifications(session, county, months)
    elif indicator in EXCHANGE_RATIOS:
        items = _messages(session, county, months, indicator, part, request.as_of)
    else:
        raise InvalidInput(
            f"the {part} of {indicator} comes from department reports: see /api/v1/reports",
            field="part",
        )
    page = items[cursor : cursor + limit]
    following = cursor + limit if cursor + limit < len(items) else None
    return BehindPage(
        indicator=indicator, part=part, items=page,
        next_cursor=None if following is None else str(following),
    )  # fmt: skip


def _records(
    session: Session, county: str, months: list[str], kind: str, which: str
) -> list[BehindItem]:
    items: list[BehindItem] = []
    for label in months:
        month = parse_month(label)
        found = repository.records_counted(
            session, county, kind, which,
            start=month.start, end=month.end, adults_born_by=adult_born_by(month.last_day),
        )  # fmt: skip
        items += [
            BehindItem(
                type="record",
                id=str(r.id),
                region=r.registering_region,
                at=r.created_at,
                detail={
                    "kind": r.kind,
                    "status": r.status,
                    "certificate_checked": r.certificate_checked,
                    "has_certificate": bool(r.certificate_number),
                },
            )
            for r in found
        ]
    return items


def _birth_notifications(session: Session, county: str, months: list[str]) -> list[BehindItem]:
    return [_message_item(m) for m in repository.birth_notifications(session, county, months)]


def _messages(
    session: Session,
    county: str,
    months: list[str],
    indicator: str,
    part: str,
    as_of: datetime,
) -> list[BehindItem]:
    role, kind, numerator, denominator = EXCHANGE_RATIOS[indicator]
    found = repository.messages_of(
        session, county, months, kind=kind, as_responder=role == "responder"
    )
    field = numerator if part == "numerator" else denominator
    return [
        _message_item(m)
        for m in found
        if getattr(tally_message(m, as_of, as_of), field)  # the figures' own definition
    ]


def _message_item(message: Message) -> BehindItem:
    return BehindItem(
        type="message", id=str(message.id), region=message.to_region, at=message.submitted_at,
        detail={"kind": message.kind, "subtype": message.subtype, "from": message.from_region,
                "to": message.to_region, "state": message.state,
                "deadline": message.deadline.isoformat(),
                "feedback_result": message.feedback_result},
    )  # fmt: skip

"""Deadlines recomputed after the holiday arrangement changed (SPEC §7).

A deadline computed for a year whose arrangement was not loaded rests on the
weekends alone (``deadline_basis = weekends_only``). When the operator loads
the arrangement, every message not withdrawn whose deadline may have moved is
recomputed with the calendar the load holds: those computed on the fallback,
and those whose computation ran over a day the load added or changed (a
corrected notice). Open and answered messages alike: whether an answer was on
time depends on the deadline.

Each moved deadline writes a message event (old and new deadline and basis),
a change-feed entry for both counties and, per chunk of messages, an audit
row; ``updated_at`` moves to now so that the figures' refresh counts the
message again (the loader runs it in the same transaction).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub.audit import service as audit
from exchange_hub.changes import record_change
from exchange_hub.exchange import repository
from exchange_hub.exchange.common import settings_of
from exchange_hub.exchange.service import deadline_for
from exchange_hub.models import Message, MessageEvent
from exchange_hub.scope import Caller
from exchange_hub.workdays import WEEKENDS_ONLY, end_of_day_utc, start_of_day_utc
from exchange_hub.workdays_store import calendar_of

AUDIT_ACTION = "message.deadline_recomputed"
FEED_ACTION = "deadline"
AUDIT_CHUNK = 200
"""Moved deadlines listed per audit row (a yearly load may move thousands)."""


@dataclass(frozen=True)
class MovedDeadline:
    message_id: Any
    old_deadline: datetime
    new_deadline: datetime
    old_basis: str
    new_basis: str

    def as_detail(self) -> dict[str, str]:
        return {
            "old_deadline": self.old_deadline.isoformat(),
            "new_deadline": self.new_deadline.isoformat(),
            "old_basis": self.old_basis,
            "new_basis": self.new_basis,
        }


def recompute_deadlines(
    session: Session, caller: Caller, *, span: tuple[date, date] | None, now: datetime
) -> list[MovedDeadline]:
    """Recompute the deadlines the calendar change may have moved; returns those that moved.

    ``span``: the first and last day the load added, changed or newly covered.
    """
    calendar, settings = calendar_of(session), settings_of(session)
    moved = []
    for message in _candidates(session, span):
        deadline, basis = deadline_for(
            settings, calendar, message.kind, message.subtype, message.submitted_at
        )
        if (deadline, basis) != (message.deadline, message.deadline_basis):
            moved.append(_move(session, caller, message, deadline, basis, now))
    for chunk in _chunks(moved):
        audit.record(
            session,
            audit.entry_for(
                caller, AUDIT_ACTION, object_type="message",
                request_id=session.info.get("request_id"),
                detail={"count": len(chunk), "reason": "calendar loaded",
                        "changes": [{"id": str(m.message_id), **m.as_detail()} for m in chunk]},
            ),
        )  # fmt: skip
    return moved


def _candidates(session: Session, span: tuple[date, date] | None) -> Iterator[Message]:
    """Messages on the fallback, and those whose computation may have crossed ``span``
    (target day after submission, deadline on or after the span's first day)."""
    instants = None if span is None else (start_of_day_utc(span[0]), end_of_day_utc(span[1]))
    yield from repository.messages_with_deadline_to_recompute(
        session, basis=WEEKENDS_ONLY, span=instants
    )


def _move(
    session: Session,
    caller: Caller,
    message: Message,
    deadline: datetime,
    basis: str,
    now: datetime,
) -> MovedDeadline:
    moved = MovedDeadline(message.id, message.deadline, deadline, message.deadline_basis, basis)
    message.deadline, message.deadline_basis, message.updated_at = deadline, basis, now
    session.add(
        MessageEvent(
            message_id=message.id, at=now, actor_member_id=caller.member_id, actor=caller.label,
            from_state=message.state, to_state=message.state,
            detail={"reason": "calendar loaded", **moved.as_detail()},
        )
    )  # fmt: skip
    summary = {
        "state": message.state, "kind": message.kind, "subtype": message.subtype,
        "deadline": deadline.isoformat(), "deadline_basis": basis,
    }  # fmt: skip
    regions = [message.from_region, message.to_region]
    record_change(session, "message", message.id, FEED_ACTION, regions, summary)
    return moved


def _chunks(moved: list[MovedDeadline]) -> Iterator[list[MovedDeadline]]:
    for start in range(0, len(moved), AUDIT_CHUNK):
        yield moved[start : start + AUDIT_CHUNK]

"""The indicators of SPEC §5 for one message, in plain Python.

These are the definitions; the SQL in ``aggregates_repository.py`` computes the same
sums in bulk, and the tests compare both against a scan of raw rows. For a
responding region R, a period P and an evaluation time T, a message counts
when it was submitted in P, by T, and was not withdrawn (a withdrawn message
never counts against anyone, whenever it was withdrawn):

- ``routed``: every such message;
- ``answered`` (反馈): feedback recorded by T; ``answered_on_time`` when at
  or before the deadline; ``not_found`` (查无此人) when the result says so;
- ``due``: answered by T, or needing feedback and its deadline before T;
- ``received`` (接收) by T and ``receipt_due`` likewise for receipts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

LEGS = ("delivered", "received", "answered")


class MessageFacts(Protocol):
    """The columns of a message the figures read (an ORM row or a result row)."""

    kind: str
    state: str
    needs_feedback: bool
    needs_receipt: bool
    submitted_at: datetime
    deadline: datetime
    delivered_at: datetime | None
    received_at: datetime | None
    answered_at: datetime | None
    feedback_result: str | None


@dataclass
class Tally:
    """Summable counts behind every rate; roll-ups add these, never rates."""

    routed: int = 0
    answered: int = 0
    answered_on_time: int = 0
    not_found: int = 0
    due: int = 0
    received: int = 0
    receipt_due: int = 0

    def add(self, other: Tally, sign: int = 1) -> None:
        self.routed += sign * other.routed
        self.answered += sign * other.answered
        self.answered_on_time += sign * other.answered_on_time
        self.not_found += sign * other.not_found
        self.due += sign * other.due
        self.received += sign * other.received
        self.receipt_due += sign * other.receipt_due

    @property
    def overdue(self) -> int:
        """Needing feedback, deadline passed, no answer yet (超期未反馈)."""
        return self.due - self.answered

    @property
    def receipt_overdue(self) -> int:
        return self.receipt_due - self.received


def tally_message(message: MessageFacts, as_of: datetime, known_at: datetime | None) -> Tally:
    """What one message adds to the figures at evaluation time ``as_of``.

    ``known_at`` is the instant up to which its recorded events count: the
    true figure uses ``known_at = as_of``; the maintained aggregates count
    every recorded event (``known_at = None``) and are corrected for the few
    messages that changed after ``as_of`` (``service.py``).
    """
    tally = Tally()
    if message.state == "withdrawn" or not _happened(message.submitted_at, known_at):
        return tally
    answered = _happened(message.answered_at, known_at)
    received = _happened(message.received_at, known_at)
    tally.routed = 1
    if answered:
        assert message.answered_at is not None
        tally.answered = 1
        tally.answered_on_time = int(message.answered_at <= message.deadline)
        tally.not_found = int(message.feedback_result == "not_found")
    tally.due = int(answered or (message.needs_feedback and message.deadline < as_of))
    tally.received = int(received)
    tally.receipt_due = int(received or (message.needs_receipt and message.deadline < as_of))
    return tally


def leg_latencies(message: MessageFacts, known_at: datetime | None) -> list[tuple[str, int]]:
    """``(leg, whole seconds since submission)`` for each leg completed by ``known_at``."""
    if message.state == "withdrawn" or not _happened(message.submitted_at, known_at):
        return []
    ends = (message.delivered_at, message.received_at, message.answered_at)
    return [
        (leg, whole_seconds(end - message.submitted_at))
        for leg, end in zip(LEGS, ends, strict=True)
        if end is not None and _happened(end, known_at)
    ]


def whole_seconds(delta: timedelta) -> int:
    """Floor of a timedelta in seconds, in integers (no float rounding)."""
    micros = delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
    return micros // 1_000_000


def _happened(moment: datetime | None, known_at: datetime | None) -> bool:
    return moment is not None and (known_at is None or moment <= known_at)

"""The receipts (接收) of what ``agent pull`` wrote: what the receipt rate (接收率) counts.

``pull`` enters every item it wrote that the hub lists as ``needs_receipt`` (the
notifications not yet received; a query takes no receipt, SPEC §4) in the agent's
state, in the transaction that marks it written; this step then sends each one
(``POST /api/v1/messages/{id}/receipt``, its ``Idempotency-Key`` the message's, so a
receipt sent twice after a crash is applied once) and settles it:

- ``acknowledged``: the hub took it;
- ``already``: the hub answered 409 and the message is received or answered (a clerk
  acknowledged it in the console, or answered it): done all the same;
- ``withdrawn``: the sender withdrew it before the receipt: reported, dropped;
- ``refused``: any other refusal of this item (404 …): reported, dropped, never sent
  again.

A hub that cannot be reached (or is unavailable, or rate-limits until the deadline)
or that refuses the agent itself (401, 403) stops the step: what is left stays
pending for the next run, and the run exits as it does for any other step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange_hub.agent import faults
from exchange_hub.agent.state_repository import State
from exchange_hub.client import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    HubClient,
    HubRefused,
    RateLimitedError,
    UnavailableError,
)

DONE_STATES = ("received", "answered")  # an answer records the receipt too (SPEC §4)
# Refusals of the agent itself (key, scope) or of the hub's state, not of one item: the
# step stops and the receipt stays pending.
NOT_THIS_ITEM = (AuthenticationError, ForbiddenError, RateLimitedError, UnavailableError)


@dataclass
class ReceiptOutcome:
    acknowledged: int = 0
    already: int = 0
    withdrawn: int = 0
    refused: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)  # withdrawn or refused, why


def acknowledge_pending(client: HubClient, state: State, outcome: ReceiptOutcome) -> None:
    """Send every pending receipt, oldest first, settling each as the hub answers."""
    pending = state.pending_receipts()
    if pending:
        faults.checkpoint("before_acknowledge")
    for message_id in pending:
        state.settle_receipt(message_id, _acknowledge(client, message_id, outcome))


def _acknowledge(client: HubClient, message_id: str, outcome: ReceiptOutcome) -> str:
    try:
        client.acknowledge(message_id)
    except ConflictError as exc:
        return _settle_conflict(client, message_id, exc, outcome)
    except NOT_THIS_ITEM:
        raise
    except HubRefused as exc:
        return _drop(outcome, message_id, "refused", str(exc), exc)
    faults.checkpoint("after_acknowledge")
    outcome.acknowledged += 1
    return "acknowledged"


def _settle_conflict(
    client: HubClient, message_id: str, conflict: ConflictError, outcome: ReceiptOutcome
) -> str:
    """A 409 (``conflict``) names no reason a program reads: the message's state does."""
    try:
        state = client.get_message(message_id).state
    except NOT_THIS_ITEM:
        raise
    except HubRefused as exc:
        return _drop(outcome, message_id, "refused", str(exc), exc)
    if state in DONE_STATES:
        outcome.already += 1
        return "already"
    if state == "withdrawn":
        return _drop(outcome, message_id, "withdrawn", "发送方已撤回，无需接收", conflict)
    return _drop(outcome, message_id, "refused", str(conflict), conflict)


def _drop(outcome: ReceiptOutcome, message_id: str, why: str, reason: str, exc: HubRefused) -> str:
    if why == "withdrawn":
        outcome.withdrawn += 1
    else:
        outcome.refused += 1
    outcome.dropped.append({"message_id": message_id, "outcome": why, "reason": reason,
                            "problem": exc.raw or exc.problem.model_dump()})  # fmt: skip
    return why

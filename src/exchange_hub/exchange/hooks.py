"""Calls from other domains into the exchange.

``inflow_registered`` is called by the records service, inside the same
transaction, after an inflow record (流入登记) is created: the exchange notifies
the origin county and, where the hub holds no matching active outflow record,
opens a ``normal`` verification query to it (SPEC §3).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from exchange_hub.members.scope import Caller


def inflow_registered(session: Session, caller: Caller, record: Any) -> None:
    """Placeholder until the exchange work lands; the exchange work replaces this body."""

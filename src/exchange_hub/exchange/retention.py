"""Job ``exchange.purge_bodies``: person data of closed messages is kept only as long as needed.

A message's encrypted body and feedback (the person data) are replaced by a
tombstone ``HUB_MESSAGE_BODY_RETENTION_DAYS[kind]`` days after submission,
once it is closed (answered, withdrawn, or a notification received that needs
no feedback). Everything the figures and the audit read stays: states,
timestamps, results, the hub's signed receipt (which carries the digest).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange.common import BODY_CONTEXT, FEEDBACK_CONTEXT
from exchange_hub.models import Message

PURGED = "purged"
BATCH = 2_000


def _closed() -> ColumnElement[bool]:
    return or_(
        Message.state.in_(("answered", "withdrawn")),
        and_(Message.state == "received", Message.needs_feedback.is_(False)),
    )


def purge_bodies(hub: HubContext) -> dict[str, Any]:
    """Replace old closed messages' bodies, a batch per kind per run."""
    purged: dict[str, int] = {}
    now = clock.now()
    for kind, days in hub.settings.message_body_retention_days.items():
        if days <= 0:
            continue  # kept for good
        with transaction(hub.sessions) as session:
            rows = session.scalars(
                select(Message)
                .where(
                    Message.kind == kind, Message.body_digest != PURGED, _closed(),
                    Message.submitted_at < now - timedelta(days=days),
                )
                .limit(BATCH)
            ).all()  # fmt: skip
            tombstone = json.dumps({"purged_at": now.isoformat(), "retention_days": days})
            for message in rows:
                message.body = hub.keyring.encrypt(tombstone, BODY_CONTEXT)
                if message.feedback_body is not None:
                    message.feedback_body = hub.keyring.encrypt(tombstone, FEEDBACK_CONTEXT)
                message.subject_index, message.body_digest = None, PURGED
            purged[kind] = len(rows)
    return {"purged": purged}

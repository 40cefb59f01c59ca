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

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange import repository
from exchange_hub.exchange.common import BODY_CONTEXT, FEEDBACK_CONTEXT

PURGED = "purged"
BATCH = 2_000


def purge_bodies(hub: HubContext) -> dict[str, Any]:
    """Replace old closed messages' bodies, a batch per kind per run."""
    purged: dict[str, int] = {}
    now = clock.now()
    for kind, days in hub.settings.message_body_retention_days.items():
        if days <= 0:
            continue  # kept for good
        with transaction(hub.sessions) as session:
            rows = repository.closed_messages_to_purge(
                session, kind=kind, submitted_before=now - timedelta(days=days),
                purged_digest=PURGED, limit=BATCH,
            )  # fmt: skip
            tombstone = json.dumps({"purged_at": now.isoformat(), "retention_days": days})
            for message in rows:
                message.body = hub.keyring.encrypt(tombstone, BODY_CONTEXT)
                if message.feedback_body is not None:
                    message.feedback_body = hub.keyring.encrypt(tombstone, FEEDBACK_CONTEXT)
                message.subject_index, message.body_digest = None, PURGED
            purged[kind] = len(rows)
    return {"purged": purged}

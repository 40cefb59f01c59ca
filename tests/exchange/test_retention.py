"""Closed messages lose their person data after the retention period; figures stay."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange.common import BODY_CONTEXT
from exchange_hub.exchange.retention import PURGED, purge_bodies
from exchange_hub.models import Message
from tests.metrics.factories import make_message


def test_old_closed_messages_are_tombstoned_open_and_recent_ones_kept(hub: HubContext) -> None:
    old = hub_clock.now() - timedelta(days=800)
    body = hub.keyring.encrypt(
        json.dumps({"subject": {"id_number": "11010519491231002X"}}), BODY_CONTEXT
    )
    with transaction(hub.sessions) as session:
        rows = {
            "old_answered": make_message(
                session, submitted_at=old, answered_at=old + timedelta(days=3)
            ),
            "old_open": make_message(session, submitted_at=old),
            "recent_answered": make_message(
                session,
                submitted_at=hub_clock.now() - timedelta(days=10),
                answered_at=hub_clock.now(),
            ),
        }
        for row in rows.values():
            session.get(Message, row["id"]).body = body
    assert purge_bodies(hub)["purged"]["query"] == 1
    with hub.sessions() as session:
        found = {name: session.get(Message, row["id"]) for name, row in rows.items()}
        tombstone = json.loads(hub.keyring.decrypt(found["old_answered"].body, BODY_CONTEXT))
    assert "subject" not in tombstone and tombstone["retention_days"] == 730
    assert (
        found["old_answered"].body_digest == PURGED and found["old_answered"].subject_index is None
    )
    assert found["old_answered"].state == "answered"  # the figures keep their facts
    assert found["old_answered"].answered_at is not None
    assert found["old_open"].body == body and found["recent_answered"].body == body
    assert purge_bodies(hub)["purged"]["query"] == 0  # nothing twice


def test_retention_zero_keeps_bodies(hub: HubContext) -> None:
    old = hub_clock.now() - timedelta(days=800)
    with transaction(hub.sessions) as session:
        make_message(session, submitted_at=old, answered_at=old)
    hub.settings.message_body_retention_days = {"query": 0}
    assert purge_bodies(hub) == {"purged": {}}
    with hub.sessions() as session:
        assert session.scalars(select(Message.body_digest)).one() != PURGED

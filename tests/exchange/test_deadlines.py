"""Deadlines by kind, moved off rest days (2026 National Day, Mid-Autumn); Shanghai periods."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange import common, service
from exchange_hub.exchange.schemas import MessageAccepted, MessageCreate
from exchange_hub.scope import Caller
from exchange_hub.workdays import SHANGHAI
from tests.exchange.helpers import notification_body, query_body
from tests.fixtures.hub import MemberKey


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def submit(
    hub: HubContext, sender: MemberKey, body: dict[str, object], at: datetime
) -> MessageAccepted:
    caller = Caller(uuid.UUID(sender.id), "dest", "county", sender.region)
    with transaction(hub.sessions) as session:
        return service.submit_message(
            session, caller, payload=MessageCreate.model_validate(body), now=at
        )


@pytest.mark.parametrize(
    ("urgency", "submitted", "due"),
    [
        # 7 days → Thu 1 Oct (National Day) → first working day Thu 8 Oct
        ("certificate", "2026-09-24T10:00:00", "2026-10-08"),
        # 15 days → Thu 1 Oct → Thu 8 Oct
        ("urgent", "2026-09-16T09:00:00", "2026-10-08"),
        # 30 days → Mon 5 Oct (holiday) → Thu 8 Oct
        ("normal", "2026-09-05T15:00:00", "2026-10-08"),
        # 15 days → Sun 20 Sep, an adjusted working day (调休): stays
        ("urgent", "2026-09-05T15:00:00", "2026-09-20"),
        # 7 days → Fri 25 Sep, Mid-Autumn Festival → Mon 28 Sep
        ("certificate", "2026-09-18T08:00:00", "2026-09-28"),
        # Shanghai date counts: 23:30 on 23 Sep local is 15:30 UTC the same day
        ("certificate", "2026-09-23T23:30:00", "2026-09-30"),
    ],
)
def test_query_deadlines_move_off_rest_days(
    hub: HubContext,
    county_a: MemberKey,
    county_b: MemberKey,
    urgency: str,
    submitted: str,
    due: str,
) -> None:
    accepted = submit(
        hub, county_b, query_body(to_region="110105", urgency=urgency), shanghai(submitted)
    )
    deadline: datetime = accepted.deadline
    assert deadline.tzinfo is not None
    local = deadline.astimezone(SHANGHAI)
    assert local.date().isoformat() == due
    assert (local.hour, local.minute) == (23, 59)


def test_notifications_take_30_days(
    hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    accepted = submit(
        hub, county_b, notification_body(to_region="110105"), shanghai("2026-09-05T10:00:00")
    )
    assert accepted.deadline.astimezone(SHANGHAI).date().isoformat() == "2026-10-08"


def test_period_is_the_shanghai_month(
    hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    from exchange_hub.models import Message

    at = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # 1 Oct 01:00 in Shanghai
    accepted = submit(hub, county_b, query_body(to_region="110105"), at)
    with hub.sessions() as session:
        message = session.get(Message, accepted.id)
        assert message is not None
        assert message.period == "2026-10"
        assert message.submitted_at == at


def test_deadlines_are_configurable(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.fixtures.hub import make_context, make_member

    hub = make_context(database_url, tmp_path / "d", deadline_days_certificate=3)
    try:
        make_member(hub, region="110105")
        sender = make_member(hub, region="440305")
        accepted = submit(
            hub, sender, query_body(to_region="110105", urgency="certificate"),
            shanghai("2026-11-02T10:00:00"),
        )  # fmt: skip
        assert accepted.deadline.astimezone(SHANGHAI).date().isoformat() == "2026-11-05"
    finally:
        hub.dispose()


def test_overdue_is_derived_from_the_deadline(
    hub: HubContext, county_a: MemberKey, county_b: MemberKey
) -> None:
    from exchange_hub.models import Message

    accepted = submit(
        hub, county_b, query_body(to_region="110105", urgency="certificate"),
        shanghai("2026-09-24T10:00:00"),
    )  # fmt: skip
    with hub.sessions() as session:
        message = session.get(Message, accepted.id)
        assert message is not None
        assert not common.is_overdue(message, shanghai("2026-10-08T23:00:00"))
        assert common.is_overdue(message, shanghai("2026-10-09T00:00:01"))

"""Plain factories for the console's tests: messages sent and answered through the exchange
service (with chosen times), and department reporting pairs."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from exchange_hub import clock as hub_clock
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.exchange import service as exchange
from exchange_hub.exchange.schemas import FeedbackCreate, MessageCreate
from exchange_hub.id_numbers import expected_check_character as check_character
from exchange_hub.reports import pairs
from exchange_hub.scope import Caller
from exchange_hub.web.pages.common import last_month


def county(region: str) -> Caller:
    return Caller(member_id=uuid.uuid4(), name=f"county {region}", role="county", region=region)


def id_number(region: str, seq: str = "123") -> str:
    body = region + "19900101" + seq
    return body + check_character(body)


def last_month_moment() -> datetime:
    """The middle of last month; with the clock pinned to ``console_day`` (tests/web/conftest.py),
    a normal query (30 days) sent then is past its deadline by now."""
    first_of_this = hub_clock.now().replace(day=1, hour=4, minute=0, second=0, microsecond=0)
    middle = first_of_this - timedelta(days=15)
    assert f"{middle:%Y-%m}" == last_month()
    assert middle + timedelta(days=35) < hub_clock.now(), "pin the clock: use console_day"
    return middle


def send_query(
    hub: HubContext,
    *,
    to: str,
    sender: str = "110105",
    at: datetime | None = None,
    seq: str = "123",
    name: str | None = "王小明",
) -> uuid.UUID:
    subject = {"id_number": id_number(to, seq), **({"name": name} if name else {})}
    payload = MessageCreate.model_validate(
        {"kind": "query", "urgency": "normal", "subject": subject, "to_region": to,
         "purpose": "核实户籍信息", "case_ref": f"CASE-{seq}"}
    )  # fmt: skip
    with transaction(hub.sessions) as session:
        sent = exchange.submit_message(session, county(sender), payload=payload, now=at)
    return sent.id


def answer_query(
    hub: HubContext,
    message_id: uuid.UUID,
    *,
    by: str,
    result: str = "found",
    at: datetime | None = None,
) -> None:
    with transaction(hub.sessions) as session:
        exchange.answer(
            session, county(by), message_id=message_id,
            feedback=FeedbackCreate(result=result), now=at,
        )  # fmt: skip


def expect_reports(hub: HubContext, region: str, departments: list[str]) -> None:
    with transaction(hub.sessions) as session:
        pairs.activate_pairs(
            session, region=region, departments=departments, active_from=date(2025, 1, 1)
        )

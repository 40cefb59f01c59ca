"""Helpers of the figures tests: insert messages, read figures as an admin or a county."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.metrics import service
from exchange_hub.metrics.schemas import ExchangeReport, LatencyReport
from exchange_hub.scope import Caller
from tests.metrics.factories import make_messages, message_row

NATION_ADMIN = Caller(member_id=None, name="test admin", role="admin", region="000000")


@pytest.fixture
def insert(hub: HubContext) -> Callable[..., list[dict[str, Any]]]:
    """``insert(dict(...), dict(...))``: message rows built by ``message_row``, committed."""

    def _insert(*specs: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [message_row(**spec) for spec in specs]
        with transaction(hub.sessions) as session:
            make_messages(session, rows)
        return rows

    return _insert


@pytest.fixture
def exchange(hub: HubContext) -> Callable[..., ExchangeReport]:
    def _exchange(caller: Caller = NATION_ADMIN, **inputs: Any) -> ExchangeReport:
        inputs.setdefault("level", None)
        inputs.setdefault("role", "responder")
        inputs.setdefault("as_of", None)
        with transaction(hub.sessions) as session:
            return service.exchange_report(session, caller, **inputs)

    return _exchange


@pytest.fixture
def latency(hub: HubContext) -> Callable[..., LatencyReport]:
    def _latency(caller: Caller = NATION_ADMIN, **inputs: Any) -> LatencyReport:
        inputs.setdefault("level", None)
        inputs.setdefault("role", "responder")
        inputs.setdefault("as_of", None)
        with transaction(hub.sessions) as session:
            return service.latency_report(session, caller, **inputs)

    return _latency

"""A hub served in a thread of the test process leaves that process's logging alone.

Found under the national profile's PostgreSQL run, whose order put the browser tests
before tests/security: uvicorn's default logging configuration had stopped
``uvicorn.access`` propagating, so a later test saw none of its records.
"""

from __future__ import annotations

import logging

import httpx

from exchange_hub.context import HubContext
from tests.fixtures.served import hub_in_thread

LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "uvicorn.asgi")


def _state() -> dict[str, tuple[bool, int, list[logging.Handler]]]:
    found = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        found[name] = (logger.propagate, logger.level, list(logger.handlers))
    return found


def test_serving_in_a_thread_changes_no_logger(hub: HubContext) -> None:
    before = _state()
    with hub_in_thread(hub) as url:
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        assert _state() == before
    assert _state() == before

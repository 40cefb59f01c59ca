"""Every calendar test starts from a table that covers the years up to 2026 only."""

from __future__ import annotations

import pytest

from exchange_hub.context import HubContext
from tests.holidays.helpers import arrangement_until


@pytest.fixture(autouse=True)
def _arrangement_until_2026(hub: HubContext) -> None:
    arrangement_until(hub, 2026)

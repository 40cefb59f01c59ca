"""What the exchange asks about people: the questions the records domain answers.

Routing needs the household-registration county (户籍地) the hub has on record
for an ID number (SPEC §2); an inflow needs to know whether its origin county
holds an active outflow record (流出登记) of the person (SPEC §3). The records
domain implements ``PersonDirectory`` (``records/service.py``); the hub's entry
points put it in the session info of every session they open
(``context.build_context(settings, people=...)``), so the exchange never
imports records. A hub built without it has ``NOBODY``: no household county on
record, no outflow records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from exchange_hub.crypto import KeyRing

SESSION_KEY = "people"


class PersonDirectory(Protocol):
    def hukou_region_for(self, session: Session, keyring: KeyRing, id_number: str) -> str | None:
        """The household county on record for the ID number, or None."""
        ...

    def has_active_outflow(
        self, session: Session, keyring: KeyRing, id_number: str, origin_county: str
    ) -> bool:
        """Whether ``origin_county`` holds an active outflow record of the ID number."""
        ...

    def hukou_regions_for(
        self, session: Session, keyring: KeyRing, id_numbers: Sequence[str]
    ) -> dict[str, str]:
        """``hukou_region_for`` of many ID numbers (those with none are left out)."""
        ...

    def active_outflow_regions(
        self, session: Session, keyring: KeyRing, id_numbers: Sequence[str]
    ) -> dict[str, set[str]]:
        """The counties holding an active outflow record of each ID number."""
        ...


class _Nobody:
    """The directory of a hub without records: it knows nobody."""

    def hukou_region_for(self, session: Session, keyring: KeyRing, id_number: str) -> str | None:
        return None

    def has_active_outflow(
        self, session: Session, keyring: KeyRing, id_number: str, origin_county: str
    ) -> bool:
        return False

    def hukou_regions_for(
        self, session: Session, keyring: KeyRing, id_numbers: Sequence[str]
    ) -> dict[str, str]:
        return {}

    def active_outflow_regions(
        self, session: Session, keyring: KeyRing, id_numbers: Sequence[str]
    ) -> dict[str, set[str]]:
        return {}


NOBODY: PersonDirectory = _Nobody()


def directory_of(session: Session) -> PersonDirectory:
    """The directory the hub wired into this session, or ``NOBODY``."""
    return session.info.get(SESSION_KEY) or NOBODY

"""Region catalogue: look-ups, routing checks and loading newer lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from exchange_hub.errors import InvalidInput, NotFound
from exchange_hub.models import Region
from exchange_hub.region_codes import (
    NATION,
    NATION_NAME,
    CatalogueEntry,
    bundled_catalogue,
    level_of,
    parent_of,
)
from exchange_hub.region_codes import normalise_code as normalise_code  # part of this API
from exchange_hub.regions import repository


def get_region(session: Session, code: str, *, field: str = "region") -> Region:
    region = repository.get_region(session, normalise_code(code, field=field))
    if region is None:
        raise NotFound(f"no region with code {code}", field=field)
    return region


def names_of(session: Session, codes: Iterable[str | None]) -> dict[str, str]:
    """Code → name of the known codes among ``codes`` (unknown and empty ones are left out)."""
    wanted = sorted({code for code in codes if code})
    return repository.names_of(session, wanted) if wanted else {}


def require_current_county(session: Session, code: str, *, field: str) -> Region:
    """A county that messages and records may be addressed to (SPEC §2)."""
    code = normalise_code(code, field=field)
    region = repository.get_region(session, code)
    if region is None:
        raise InvalidInput(f"region {code} is not in the GB/T 2260 catalogue", field=field)
    if region.level != "county":
        raise InvalidInput(f"region {code} ({region.name}) is not a county", field=field)
    if not region.active:
        raise InvalidInput(f"county {code} ({region.name}) is abolished", field=field)
    return region


def catalogue_facts(session: Session) -> dict[str, tuple[str, bool]]:
    """The whole catalogue, current and abolished, as ``code → (level, active)``."""
    return repository.level_and_activity_by_code(session)


def current_counties_under(session: Session, prefix: str) -> list[str]:
    """The current counties whose code starts with ``prefix`` (all of them for "")."""
    return repository.current_county_codes_under(session, prefix)


def list_children(session: Session, parent: str) -> Sequence[Region]:
    return repository.children(session, get_region(session, parent, field="parent").code)


@dataclass(frozen=True)
class LoadSummary:
    added: int
    updated: int


def load_entries(session: Session, entries: Iterable[CatalogueEntry]) -> LoadSummary:
    """Insert or update catalogue entries; codes never disappear (old IDs keep them)."""
    entries = list(entries)
    existing = {r.code: r for r in repository.all_regions(session)}
    known = set(existing) | {e.code for e in entries} | {NATION}
    added = updated = 0
    if NATION not in existing:
        session.add(Region(code=NATION, name=NATION_NAME, level="nation", parent=None, active=True))
    for entry in entries:
        region = existing.get(entry.code)
        values = {
            "name": entry.name,
            "level": level_of(entry.code),
            "parent": parent_of(entry.code, known),
            "active": entry.active,
        }
        if region is None:
            session.add(Region(code=entry.code, **values))
            added += 1
        elif any(getattr(region, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(region, key, value)
            updated += 1
    session.flush()
    return LoadSummary(added, updated)


def load_bundled(session: Session) -> LoadSummary:
    return load_entries(session, bundled_catalogue())

"""Where a message goes (SPEC §2): the addressed county, or the subject's household county.

Order of precedence when ``to_region`` is left out:

1. the ``hukou_region`` of the hub's record of the subject (``directory.PersonDirectory``);
2. the first six digits of the ID number, if they name a current county;
3. otherwise a 422 ``RoutingError`` naming the field at fault.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from exchange_hub import id_numbers
from exchange_hub.crypto import KeyRing
from exchange_hub.errors import RoutingError
from exchange_hub.exchange.directory import directory_of
from exchange_hub.regions import repository as region_repository
from exchange_hub.regions import service as regions

log = logging.getLogger("exchange_hub.exchange.routing")

# Region facts change only when an operator loads a new catalogue; every message
# needs two of them, so they are cached per database for a minute.
_REGION_TTL_SECONDS = 60.0
_region_cache: dict[tuple[str, str], tuple[float, tuple[str, bool] | None]] = {}

RoutedBy = Literal["to_region", "record", "id_prefix"]


@dataclass(frozen=True)
class Route:
    to_region: str
    routed_by: RoutedBy


class _KnownPrefixes:
    """The catalogue as a container of region codes, read through the routing cache."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __contains__(self, prefix: object) -> bool:
        return isinstance(prefix, str) and region_facts(self.session, prefix) is not None


def normalise_id_number(session: Session, value: str, *, policy: str, field: str) -> str:
    """公民身份号码 in its 18-character form, checked exactly as records are (``id_numbers``)."""
    checked = id_numbers.parse_id_number(
        value, policy=policy, regions=_KnownPrefixes(session), field=field
    )
    return checked.number


def route(session: Session, keyring: KeyRing, *, to_region: str | None, id_number: str) -> Route:
    """The current county a message about ``id_number`` is delivered to."""
    if to_region:
        if _is_current_county(session, to_region):
            return Route(to_region, "to_region")
        county = regions.require_current_county(session, to_region, field="to_region")
        return Route(county.code, "to_region")  # pragma: no cover - the line above raises
    hukou = directory_of(session).hukou_region_for(session, keyring, id_number)
    if hukou and _is_current_county(session, hukou):
        return Route(hukou, "record")
    prefix = id_number[:6]
    if _is_current_county(session, prefix):
        return Route(prefix, "id_prefix")
    raise RoutingError(
        f"no to_region given, the hub holds no household-registration county for this person, "
        f"and the ID number's prefix {prefix} is not a current county; give to_region",
        field="to_region",
    )


def region_facts(session: Session, code: str) -> tuple[str, bool] | None:
    """(level, active) of a catalogue code, or None when unknown; cached briefly."""
    key = (str(session.get_bind().engine.url), code)
    now = time.monotonic()
    cached = _region_cache.get(key)
    if cached is not None and now - cached[0] < _REGION_TTL_SECONDS:
        return cached[1]
    region = region_repository.get_region(session, code)
    facts = (region.level, region.active) if region is not None else None
    _region_cache[key] = (now, facts)
    return facts


def _is_current_county(session: Session, code: str) -> bool:
    return region_facts(session, code) == ("county", True)

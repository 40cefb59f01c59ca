"""Where a message goes (SPEC §2): the addressed county, or the subject's household county.

Order of precedence when ``to_region`` is left out:

1. the ``hukou_region`` of the hub's record of the subject (records domain);
2. the first six digits of the ID number, if they name a current county;
3. otherwise a 422 ``RoutingError`` naming the field at fault.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy.orm import Session

from exchange_hub.crypto import KeyRing
from exchange_hub.errors import InvalidInput, RoutingError
from exchange_hub.regions import repository as region_repository
from exchange_hub.regions import service as regions

log = logging.getLogger("exchange_hub.exchange.routing")

_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
# Region facts change only when an operator loads a new catalogue; every message
# needs two of them, so they are cached per database for a minute.
_REGION_TTL_SECONDS = 60.0
_region_cache: dict[tuple[str, str], tuple[float, tuple[str, bool] | None]] = {}
_CHECK_CHARS = "10X98765432"

RoutedBy = Literal["to_region", "record", "id_prefix"]


@dataclass(frozen=True)
class Route:
    to_region: str
    routed_by: RoutedBy


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a GB 11643 ID number."""
    return _CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def normalise_id_number(session: Session, value: str, *, policy: str, field: str) -> str:
    """公民身份号码: 18 characters (15-digit legacy numbers converted), a real birth
    date and a known region prefix. A wrong check character is accepted under
    the ``lenient`` policy (real data has them), refused under ``strict``."""
    number = value.strip().upper()
    if len(number) == 15 and number.isdigit():
        body = number[:6] + "19" + number[6:]
        number = body + check_character(body)
    if len(number) != 18:
        raise InvalidInput("an ID number has 18 characters (or 15 digits)", field=field)
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidInput("an ID number is 17 digits and a digit or X", field=field)
    _check_birth_date(number, field)
    if region_facts(session, number[:6]) is None:
        raise InvalidInput(f"ID number region {number[:6]} is unknown", field=field)
    if policy == "strict" and check_character(number[:17]) != number[17]:
        raise InvalidInput("the ID number's check character is wrong", field=field)
    return number


def _check_birth_date(number: str, field: str) -> None:
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidInput("the ID number holds an impossible birth date", field=field) from exc
    if born.year < 1880 or born > date.today():
        raise InvalidInput("the ID number holds an impossible birth date", field=field)


def route(session: Session, keyring: KeyRing, *, to_region: str | None, id_number: str) -> Route:
    """The current county a message about ``id_number`` is delivered to."""
    if to_region:
        if _is_current_county(session, to_region):
            return Route(to_region, "to_region")
        county = regions.require_current_county(session, to_region, field="to_region")
        return Route(county.code, "to_region")  # pragma: no cover - the line above raises
    hukou = hukou_region_from_records(session, keyring, id_number)
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
    key = (str(session.get_bind().url), code)
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


def hukou_region_from_records(session: Session, keyring: KeyRing, id_number: str) -> str | None:
    """The records domain's ``hukou_region_for``; None while that domain is absent."""
    try:
        from exchange_hub.records import service as records
    except ImportError:
        return None
    finder = getattr(records, "hukou_region_for", None)
    if finder is None:
        return None
    return finder(session, keyring, id_number)  # type: ignore[no-any-return]


def has_active_outflow(session: Session, keyring: KeyRing, id_number: str, origin: str) -> bool:
    """The records domain's ``has_active_outflow``; False while that domain is absent."""
    try:
        from exchange_hub.records import service as records
    except ImportError:
        return False
    check = getattr(records, "has_active_outflow", None)
    if check is None:
        return False
    return bool(check(session, keyring, id_number, origin))

"""Citizen ID numbers (公民身份号码, GB 11643-1999), checked as SPEC §3 asks.

An 18-character number is 6 digits of the region where it was issued, the
birth date ``YYYYMMDD``, a 3-digit sequence whose last digit is odd for men and
even for women, and a check character (ISO 7064 MOD 11-2, ``0-9`` or ``X``,
computed by python-stdnum's ``stdnum.cn.ric.calc_check_digit``). Legacy
15-digit numbers (``YYMMDD``, no check character, all issued to people born in
the 1900s) are converted to 18.

Always refused, with the field and the reason: a wrong length, non-digits, an
impossible or future birth date, a region prefix the GB/T 2260 catalogue does
not know. The prefix is checked against the hub's region table, which keeps
abolished codes (a number issued in 崇文区 stays valid after 2010), not against
stdnum's rule that the county must have existed in the birth year: numbers
are issued at registration, often years after birth. A wrong check character
is refused under the ``strict`` policy and accepted with a data-quality flag
under ``lenient`` (the national platform stopped enforcing it in 2009).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric

from exchange_hub.errors import InvalidInput
from exchange_hub.models import Region

ID_FIELD = "person.id_number"
EARLIEST_BIRTH = date(1880, 1, 1)


@dataclass(frozen=True)
class IdNumber:
    """A checked ID number in its 18-character form, and what it says."""

    number: str
    birth_date: date
    sex: str  # "M" | "F"
    region_prefix: str
    check_flagged: bool = False
    converted: bool = False


def known_region_codes(session: Session) -> frozenset[str]:
    """Every code of the catalogue, current and abolished, for checking prefixes."""
    return frozenset(session.scalars(select(Region.code).where(Region.code != "000000")))


def expected_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    return ric.calc_check_digit(first17 + "0")


def convert_legacy(number15: str) -> str:
    """``110105491231002`` → ``11010519491231002X``: insert the century, add the check."""
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + expected_check_character(first17)


def parse_id_number(
    raw: object,
    *,
    policy: str,
    regions: Container[str],
    today: date | None = None,
    field: str = ID_FIELD,
) -> IdNumber:
    """Check an ID number and return its 18-character form with what it encodes."""
    if not isinstance(raw, str):
        raise InvalidInput("the ID number must be a string", field=field)
    number = raw.strip().upper()
    converted = False
    if len(number) == 15:
        if not number.isdigit():
            raise InvalidInput("a 15-digit ID number must contain only digits", field=field)
        number, converted = convert_legacy(number), True
    elif len(number) != 18:
        raise InvalidInput(
            f"an ID number has 18 characters (or 15 for legacy numbers), not {len(number)}",
            field=field,
        )
    elif not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidInput("an ID number is 17 digits and a final digit or X", field=field)
    birth = _birth_date(number, today or date.today(), field)
    _check_region(number[:6], regions, field)
    flagged = _check_character(number, policy, field)
    sex = "M" if int(number[16]) % 2 else "F"
    return IdNumber(number, birth, sex, number[:6], flagged, converted)


def _birth_date(number: str, today: date, field: str) -> date:
    digits = number[6:14]
    try:
        birth = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidInput(
            f"the ID number holds an impossible birth date {digits}", field=field
        ) from None
    if not EARLIEST_BIRTH <= birth <= today:
        raise InvalidInput(
            f"the ID number's birth date {birth.isoformat()} is in the future or before 1880",
            field=field,
        )
    return birth


def _check_region(prefix: str, regions: Container[str], field: str) -> None:
    if prefix not in regions:
        raise InvalidInput(
            f"the ID number's region prefix {prefix} is not in the GB/T 2260 catalogue",
            field=field,
        )


def _check_character(number: str, policy: str, field: str) -> bool:
    """True when the check character is wrong and the lenient policy accepts it."""
    expected = expected_check_character(number[:17])
    if number[17] == expected:
        return False
    if policy == "strict":
        raise InvalidInput(
            f"the ID number's check character is {number[17]}, expected {expected}",
            field=field,
        )
    return True


def require_agreement(
    id_number: IdNumber, *, birth_date: date | None, sex: str | None, prefix: str = "person"
) -> None:
    """The birth date and sex sent must be the ones the ID number encodes."""
    if birth_date is not None and birth_date != id_number.birth_date:
        raise InvalidInput(
            f"birth_date {birth_date.isoformat()} does not agree with the ID number's "
            f"{id_number.birth_date.isoformat()}",
            field=f"{prefix}.birth_date",
        )
    if sex is not None and sex != id_number.sex:
        raise InvalidInput(
            f"sex {sex} does not agree with the ID number's {id_number.sex}",
            field=f"{prefix}.sex",
        )

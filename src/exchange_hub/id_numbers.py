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
from datetime import date
from typing import NamedTuple

from stdnum.cn import ric

from exchange_hub import clock
from exchange_hub.errors import InvalidInput

ID_FIELD = "person.id_number"
EARLIEST_BIRTH = date(1880, 1, 1)


class IdNumber(NamedTuple):
    """A checked ID number in its 18-character form, and what it says.

    Immutable; a named tuple rather than a frozen dataclass because one is
    made for every record of a batch (a third of the cost to build).
    """

    number: str
    birth_date: date
    sex: str  # "M" | "F"
    region_prefix: str
    check_flagged: bool = False
    converted: bool = False


def expected_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    return ric.calc_check_digit(first17 + "0")


def _check_character_of(first17: str) -> str:
    """``expected_check_character`` without the call into stdnum (whose sum it is:
    the weights are 2^k mod 11 and 13 = 2 mod 11, so base 13 weighs the digits)."""
    return _CHECK_CHARACTERS[(1 - 2 * int(first17, 13)) % 11]


_CHECK_CHARACTERS = "0123456789X"


def convert_legacy(number15: str) -> str:
    """``110105491231002`` → ``11010519491231002X``: insert the century, add the check."""
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + _check_character_of(first17)


def form_problem(number: str) -> str | None:
    """What is wrong with the form of an ID number (stripped, upper case), or None:
    18 characters, 17 digits and a digit or X; or a legacy number of 15 digits."""
    if len(number) == 15:
        return None if number.isdecimal() else "a 15-digit ID number must contain only digits"
    if len(number) != 18:
        return f"an ID number has 18 characters (or 15 for legacy numbers), not {len(number)}"
    if not number[:17].isdecimal() or not (number[17].isdigit() or number[17] == "X"):
        return "an ID number is 17 digits and a final digit or X"
    return None


def parse_id_number(
    raw: object,
    *,
    policy: str,
    regions: Container[str],
    today: date | None = None,
    field: str = ID_FIELD,
) -> IdNumber:
    """Check an ID number and return its 18-character form with what it encodes.

    Digits are what ``int`` reads (``str.isdecimal``): a superscript passes
    ``isdigit`` but not ``int``.
    """
    if not isinstance(raw, str):
        raise InvalidInput("the ID number must be a string", field=field)
    number = raw.strip().upper()
    if (problem := form_problem(number)) is not None:
        raise InvalidInput(problem, field=field)
    converted = len(number) == 15
    if converted:
        number = convert_legacy(number)
    birth = _birth_date(number[6:14], field)
    if not EARLIEST_BIRTH <= birth <= (today or clock.today()):
        raise InvalidInput(
            f"the ID number's birth date {birth.isoformat()} is in the future or before 1880",
            field=field,
        )
    prefix = number[:6]
    if prefix not in regions:
        raise InvalidInput(
            f"the ID number's region prefix {prefix} is not in the GB/T 2260 catalogue",
            field=field,
        )
    expected = _check_character_of(number[:17])
    flagged = number[17] != expected
    if flagged and policy == "strict":
        raise InvalidInput(
            f"the ID number's check character is {number[17]}, expected {expected}",
            field=field,
        )
    sex = "M" if int(number[16]) % 2 else "F"
    return IdNumber(number, birth, sex, prefix, flagged, converted)


def _birth_date(digits: str, field: str) -> date:
    """``YYYYMMDD`` (ASCII digits: ``date.fromisoformat``'s basic form; others
    are decimal digits ``int`` reads)."""
    try:
        if digits.isascii():
            return date.fromisoformat(digits)
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidInput(
            f"the ID number holds an impossible birth date {digits}", field=field
        ) from None


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

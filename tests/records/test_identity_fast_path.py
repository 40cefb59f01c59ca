"""The ID number check's shortcuts give what the long way gives (SPEC §3)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_hub import id_numbers
from exchange_hub.errors import InvalidInput
from exchange_hub.region_codes import bundled_catalogue

REGIONS = frozenset(e.code for e in bundled_catalogue())
digits = st.text(alphabet="0123456789", min_size=8, max_size=8)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_shortcut_is_stdnums(first17: str) -> None:
    assert id_numbers._check_character_of(first17) == id_numbers.expected_check_character(first17)


@given(digits)
def test_birth_date_reads_as_the_digits_say(yyyymmdd: str) -> None:
    try:
        expected = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        with pytest.raises(InvalidInput, match=f"impossible birth date {yyyymmdd}"):
            id_numbers._birth_date(yyyymmdd, "f")
        return
    assert id_numbers._birth_date(yyyymmdd, "f") == expected


def test_full_width_digits_read_as_before() -> None:
    assert id_numbers._birth_date("１９９０0101", "f") == date(1990, 1, 1)
    parsed = id_numbers.parse_id_number(
        "11010519491231００2X", policy="lenient", regions=REGIONS, today=date(2026, 11, 23)
    )
    assert (parsed.birth_date, parsed.sex, parsed.check_flagged) == (date(1949, 12, 31), "F", False)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("11010519491231²02X", "17 digits and a final digit or X"),  # isdigit, but not int
        ("110105491231²02", "only digits"),
    ],
)
def test_digits_int_cannot_read_are_refused_not_a_crash(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        id_numbers.parse_id_number(raw, policy="lenient", regions=REGIONS, today=date(2026, 11, 23))
    assert caught.value.field == "person.id_number"
    assert reason in caught.value.detail


def test_a_checked_number_reads_by_name_and_is_immutable() -> None:
    parsed = id_numbers.parse_id_number(
        "11010519491231002X", policy="strict", regions=REGIONS, today=date(2026, 11, 23)
    )
    assert parsed == id_numbers.IdNumber("11010519491231002X", date(1949, 12, 31), "F", "110105")
    assert (parsed.region_prefix, parsed.check_flagged, parsed.converted) == (
        "110105",
        False,
        False,
    )
    with pytest.raises(AttributeError):
        parsed.sex = "M"  # type: ignore[misc]

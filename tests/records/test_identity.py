"""ID numbers (SPEC §3): valid, invalid, legacy and flagged, and the check character."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_hub import id_numbers
from exchange_hub.errors import InvalidInput
from exchange_hub.region_codes import bundled_catalogue
from tests.records.factories import id_number, wrong_check

REGIONS = frozenset(e.code for e in bundled_catalogue())
TODAY = date(2026, 11, 23)
WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def parse(raw: object, policy: str = "lenient") -> id_numbers.IdNumber:
    return id_numbers.parse_id_number(raw, policy=policy, regions=REGIONS, today=TODAY)


@pytest.mark.parametrize(
    ("raw", "number", "birth", "sex"),
    [
        ("11010519491231002X", "11010519491231002X", date(1949, 12, 31), "F"),
        ("11010519491231002x", "11010519491231002X", date(1949, 12, 31), "F"),
        (" 440305199001010018 ", "440305199001010018", date(1990, 1, 1), "M"),
        # 110103 崇文区 was abolished in 2010; numbers issued there stay valid.
        (id_number("110103", date(1975, 6, 1), sex="M"), None, date(1975, 6, 1), "M"),
    ],
)
def test_valid_numbers(raw: str, number: str | None, birth: date, sex: str) -> None:
    parsed = parse(raw)
    assert parsed.number == (number or raw)
    assert (parsed.birth_date, parsed.sex) == (birth, sex)
    assert not parsed.check_flagged and not parsed.converted


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "18 characters"),
        ("1101051949123100", "18 characters"),
        ("1101051949123100201", "18 characters"),
        ("11010519491231002Y", "17 digits and a final digit or X"),
        ("1101051949123A002X", "17 digits"),
        ("11010519491331002X", "impossible birth date 19491331"),
        ("11010519490230002X", "impossible birth date"),
        ("110105203001010011", "in the future"),
        ("110105185001010011", "before 1880"),
        ("990105199001010011", "region prefix 990105"),
        ("000000199001010011", "region prefix 000000"),
        ("11010549123100A", "only digits"),
        ("110105491331002", "impossible birth date"),
        (12345, "must be a string"),
    ],
)
def test_always_refused_with_field_and_reason(raw: object, reason: str) -> None:
    for policy in ("lenient", "strict"):
        with pytest.raises(InvalidInput) as caught:
            parse(raw, policy)
        assert caught.value.field == "person.id_number"
        assert reason in caught.value.detail


def test_legacy_15_digit_number_is_converted() -> None:
    parsed = parse("110105491231002")
    assert parsed.number == "11010519491231002X"
    assert parsed.converted and not parsed.check_flagged
    assert (parsed.birth_date, parsed.sex) == (date(1949, 12, 31), "F")


def test_wrong_check_character_is_flagged_when_lenient_and_refused_when_strict() -> None:
    bad = wrong_check("11010519491231002X")
    parsed = parse(bad, "lenient")
    assert parsed.check_flagged and parsed.number == bad
    with pytest.raises(InvalidInput) as caught:
        parse(bad, "strict")
    assert caught.value.field == "person.id_number"
    assert "check character is 0, expected X" in caught.value.detail


@pytest.mark.parametrize(
    ("birth", "sex", "field", "names"),
    [
        (date(1950, 1, 1), None, "person.birth_date", ("1950-01-01", "1949-12-31")),
        (None, "M", "person.sex", ("sex M", "F")),
    ],
)
def test_birth_date_and_sex_must_agree(
    birth: date | None, sex: str | None, field: str, names: tuple[str, str]
) -> None:
    parsed = parse("11010519491231002X")
    with pytest.raises(InvalidInput) as caught:
        id_numbers.require_agreement(parsed, birth_date=birth, sex=sex)
    assert caught.value.field == field
    assert all(name in caught.value.detail for name in names)
    id_numbers.require_agreement(parsed, birth_date=date(1949, 12, 31), sex="F")


digits17 = st.text(alphabet="0123456789", min_size=17, max_size=17)


@given(digits17)
def test_check_character_satisfies_iso_7064_mod_11_2(first17: str) -> None:
    check = id_numbers.expected_check_character(first17)
    value = 10 if check == "X" else int(check)
    assert (sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) + value) % 11 == 1


@given(digits17, st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_changes_the_check_character(
    first17: str, position: int, shift: int
) -> None:
    changed = str((int(first17[position]) + shift) % 10)
    other = first17[:position] + changed + first17[position + 1 :]
    assert id_numbers.expected_check_character(other) != id_numbers.expected_check_character(
        first17
    )


@given(st.dates(date(1900, 1, 1), date(1999, 12, 31)), st.integers(0, 999))
def test_legacy_conversion_round_trips_and_is_valid(born: date, order: int) -> None:
    legacy = f"110105{born:%y%m%d}{order:03d}"
    parsed = parse(legacy, "strict")
    assert parsed.converted and parsed.birth_date == born
    assert parsed.number[:6] + parsed.number[8:17] == legacy

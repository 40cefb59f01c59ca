"""Plain factories for records tests: valid ID numbers and record bodies."""

from __future__ import annotations

from datetime import date
from typing import Any

from stdnum.cn import ric


def id_number(
    region: str = "110105", born: date = date(1985, 3, 14), seq: int = 1, *, sex: str = "F"
) -> str:
    """A valid 18-character ID number; ``seq`` (0-49) keeps numbers apart."""
    order = seq * 2 + (1 if sex == "M" else 0)
    first17 = f"{region}{born:%Y%m%d}{order:03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def wrong_check(number: str) -> str:
    digit = "0" if number[-1] != "0" else "1"
    return number[:-1] + digit


def outflow(number: str, *, name: str = "王秀英", county: str = "110105", **extra: Any) -> dict:
    person = {"id_number": number, "name": name, **extra.pop("person", {})}
    return {
        "kind": "outflow",
        "person": person,
        "hukou_region": county,
        "residence_region": extra.pop("residence_region", "440305"),
        "moved_on": "2026-03-01",
        **extra,
    }


def inflow(number: str, *, name: str = "李娜", county: str = "440305", **extra: Any) -> dict:
    person = {"id_number": number, "name": name, **extra.pop("person", {})}
    return {
        "kind": "inflow",
        "person": person,
        "hukou_region": extra.pop("hukou_region", "110105"),
        "residence_region": county,
        "moved_on": "2026-10-02",
        "certificate": {
            "number": "BJ2026-0001",
            "issued_by": "110105",
            "valid_until": "2028-10-01",
        },
        "certificate_checked": True,
        **extra,
    }

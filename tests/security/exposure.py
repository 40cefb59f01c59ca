"""Person fields made up for a test, the forms each may take when stored, and scanners
that look for them in every column of every table and in log output (OWASP API3:2023).

A finding is any plaintext form of a submitted person field: raw UTF-8, the
``\\uXXXX`` escapes of a JSON writer (lower and upper case hex), inside any
JSON document however it is escaped, and for ID numbers also the 15-digit
legacy form and a lowercase ``x``. Keyed hashes (blind indexes) and masked
forms (``440305********0777``, ``138****5678``) are not findings.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import Column, Engine, MetaData, Table, Text, cast, select, types

from exchange_hub.id_numbers import convert_legacy

# Columns that may hold text are every column except these kinds.
_NOT_TEXT = (
    types.Integer, types.Numeric, types.Float, types.Boolean, types.Date, types.DateTime,
    types.Time, types.Interval, types.Uuid,
)  # fmt: skip
_ESCAPED = re.compile(r"\\u([0-9a-f]{4})")


@dataclass(frozen=True)
class Person:
    """A made-up person: ``id_number`` is the 18-character form; ``legacy`` persons are
    submitted with their 15-digit form."""

    id_number: str
    name: str
    phone: str
    address: str
    legacy: bool = False

    @property
    def submitted_id(self) -> str:
        return legacy_form(self.id_number) if self.legacy else self.id_number

    @property
    def birth_date(self) -> date:
        digits = self.id_number[6:14]
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))

    @property
    def sex(self) -> str:
        return "M" if int(self.id_number[16]) % 2 else "F"

    def needles(self) -> list[tuple[str, str]]:
        """``(what, text)``: every plaintext form of every field of this person."""
        found = [(f"id_number {self.id_number}", form) for form in id_forms(self.id_number)]
        for what, text in (("name", self.name), ("address", self.address)):
            found += [(f"{what} {text}", form) for form in text_forms(text)]
        street = self.address.split(" ")[0]
        if street != self.address and len(street) >= 6:
            found += [(f"address {self.address}", form) for form in text_forms(street)]
        return [*found, (f"phone {self.phone}", self.phone)]


def legacy_form(id_number: str) -> str:
    """The 15-digit form of an 18-character ID number born in the 1900s."""
    return id_number[:6] + id_number[8:17]


def id_forms(id_number: str) -> list[str]:
    forms = {id_number, id_number.lower(), legacy_form(id_number)}
    return sorted(forms)


def json_escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)[1:-1]


def text_forms(text: str) -> list[str]:
    escaped = json_escaped(text)
    upper = _ESCAPED.sub(lambda m: "\\u" + m.group(1).upper(), escaped)
    return sorted({text, escaped, upper})


def make_people(
    fake: Faker, count: int, *, regions: Iterable[str], avoid: str = ""
) -> list[Person]:
    """``count`` people born 1960-1999 (so each has a 15-digit form), with ID prefixes
    taken in turn from ``regions``; the first has an ID number ending in X. A person
    any of whose needles already occurs in ``avoid`` (the database before the test) is
    made again, so every later hit is the hub's doing."""
    people: list[Person] = []
    prefixes = list(regions)
    while len(people) < count:
        prefix = prefixes[len(people) % len(prefixes)]
        number = fake.ssn(min_age=27, max_age=60, area_code=prefix)
        if not "1960" <= number[6:10] <= "1999" or (not people and number[-1] != "X"):
            continue
        person = Person(number, fake.name(), fake.phone_number(), fake.address())
        taken = {p.id_number for p in people} | {p.name for p in people}
        if person.id_number in taken or person.name in taken:
            continue
        if any(form in avoid for _, form in person.needles()):
            continue
        people.append(person)
    return people


def as_legacy(person: Person) -> Person:
    assert convert_legacy(legacy_form(person.id_number)) == person.id_number
    return Person(person.id_number, person.name, person.phone, person.address, legacy=True)


# -- the database ------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    table: str
    column: str
    text: str


def reflected(engine: Engine) -> MetaData:
    """Every table as the database has it (reflected, so new tables are covered)."""
    metadata = MetaData()
    metadata.reflect(engine)
    return metadata


def _text_columns(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if not isinstance(c.type, _NOT_TEXT)]


def stored_cells(engine: Engine) -> Iterator[Cell]:
    """Every non-null value of every column that can hold text, as text (JSON as its
    stored text, blobs as bytes)."""
    metadata = reflected(engine)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            columns = _text_columns(table)
            if not columns:
                continue
            selected = [
                c if isinstance(c.type, types.LargeBinary) else cast(c, Text) for c in columns
            ]
            for row in connection.execute(select(*selected)):
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        yield Cell(table.name, column.name, _as_text(value))


def scanned_columns(engine: Engine) -> set[str]:
    return {
        f"{table.name}.{column.name}"
        for table in reflected(engine).sorted_tables
        for column in _text_columns(table)
    }


def _as_text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _forms_of_stored(text: str) -> list[str]:
    """The stored text, and a JSON document in it re-written without escapes."""
    forms = [text]
    if text[:1] in '{["' and "\\u" in text:
        with contextlib.suppress(ValueError):
            forms.append(json.dumps(json.loads(text), ensure_ascii=False))
    return forms


def _needles(people: Iterable[Person]) -> list[tuple[str, str]]:
    return [needle for person in people for needle in person.needles()]


def hits_in_text(text: str, people: Iterable[Person]) -> list[tuple[str, str]]:
    """``(what, form)`` of every needle found in ``text``."""
    forms = "\n".join(_forms_of_stored(text))
    return [(what, needle) for what, needle in _needles(people) if needle in forms]


def database_hits(engine: Engine, people: list[Person]) -> list[str]:
    """``table.column: what as form`` for every needle in any value of a column (each
    column's values are searched as one text, once per needle)."""
    columns: dict[str, list[str]] = {}
    for cell in stored_cells(engine):
        columns.setdefault(f"{cell.table}.{cell.column}", []).extend(_forms_of_stored(cell.text))
    needles = _needles(people)
    found = []
    for column, texts in columns.items():
        joined = "\n\x00\n".join(texts)
        found += [f"{column}: {what} as {needle!r}" for what, needle in needles if needle in joined]
    return sorted(set(found))


def database_text(engine: Engine) -> str:
    """Everything the database holds as text, for choosing needles it does not contain."""
    return "\n".join(form for cell in stored_cells(engine) for form in _forms_of_stored(cell.text))


def file_hits(folder: Path, people: list[Person]) -> list[str]:
    """Every file the hub left under its data folder (exports, spools, caches)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{path}: {what} as {needle!r}" for what, needle in hits_in_text(text, people)]
    return found


def log_hits(text: str, people: list[Person], source: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, needle in hits_in_text(line, people):
            found.append(f"{source} line {number}: {what} as {needle!r}: {line[:300]}")
    return found

"""The GB/T 2260 catalogue: parsed from python-stdnum's ``cn/loc.dat`` or an operator's CSV.

``loc.dat`` lists each province, then every code under it with its names over
time: ``0103 county="[-2010]崇文区"`` was abolished in 2010;
``0111 county="[1983-1986]郊区,[1987-]白云区"`` was renamed and is current.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from exchange_hub.errors import InvalidInput

NATION = "000000"
NATION_NAME = "中华人民共和国"
# Placeholder rows of the catalogue that name no real county ("municipal districts").
_PLACEHOLDER_NAMES = {"市辖区", "县", "郊区", "省直辖县级行政区划", "自治区直辖县级行政区划"}
_ENTRY = re.compile(r'^\s+(\d{4}) county="(.*)"$')
_PROVINCE = re.compile(r'^(\d{2}) province="(.*)"$')
_SPAN = re.compile(r"^\[(\d*)-(\d*)\](.*)$")
_CODE = re.compile(r"\d{6}")
SIMPLIFIED_NAMES = {"香港特別行政區": "香港特别行政区", "澳門特別行政區": "澳门特别行政区"}
"""``loc.dat`` spells these two in traditional characters; the console is zh-CN (issue 17)."""


@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    name: str
    active: bool


def normalise_code(code: str, *, field: str = "region") -> str:
    """Accept ``44``, ``4403`` or ``440300`` and return the 6-digit form."""
    code = (code or "").strip()
    if re.fullmatch(r"\d{2}|\d{4}", code):
        code = code.ljust(6, "0")
    if not _CODE.fullmatch(code):
        raise InvalidInput(f"{code!r} is not a 6-digit GB/T 2260 region code", field=field)
    return code


def level_of(code: str) -> str:
    if code == NATION:
        return "nation"
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def _current_name(names: str) -> tuple[str, bool]:
    """The current name of an entry and whether it is still in force."""
    last = names
    for part in names.split(","):
        match = _SPAN.match(part)
        if match is None:
            return part, True
        _start, end, name = match.groups()
        last = name
        if not end:
            return name, True
    return last, False


def parse_loc_dat(lines: Iterable[str]) -> Iterator[CatalogueEntry]:
    province = ""
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        if found := _PROVINCE.match(line):
            province, name = found.groups()
            yield CatalogueEntry(province + "0000", SIMPLIFIED_NAMES.get(name, name), True)
        elif (found := _ENTRY.match(line)) and province:
            rest, names = found.groups()
            if rest == "0000":
                continue
            name, active = _current_name(names)
            code = province + rest
            if level_of(code) == "county" and name in _PLACEHOLDER_NAMES:
                active = False
            yield CatalogueEntry(code, name, active)


def bundled_catalogue() -> list[CatalogueEntry]:
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    return list(parse_loc_dat(text.splitlines()))


class CatalogueFileError(ValueError):
    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"line {line}: {detail}")
        self.line = line


def read_catalogue_csv(path: Path) -> list[CatalogueEntry]:
    """A CSV with columns ``code,name[,active]`` (header required; UTF-8, BOM allowed)."""
    entries: list[CatalogueEntry] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"code", "name"} <= set(reader.fieldnames):
            raise CatalogueFileError(1, "header must name the columns code,name[,active]")
        for line, row in enumerate(reader, start=2):
            code = (row.get("code") or "").strip()
            name = (row.get("name") or "").strip()
            if not re.fullmatch(r"\d{6}", code):
                raise CatalogueFileError(line, f"code {code!r} is not 6 digits")
            if not name:
                raise CatalogueFileError(line, "name is empty")
            flag = (row.get("active") or "1").strip().lower()
            entries.append(CatalogueEntry(code, name, flag not in {"0", "false", "no", "n"}))
    return entries


def parent_of(code: str, known: set[str]) -> str | None:
    level = level_of(code)
    if level == "nation":
        return None
    if level == "province":
        return NATION
    province = code[:2] + "0000"
    if level == "prefecture":
        return province
    prefecture = code[:4] + "00"
    return prefecture if prefecture in known else province

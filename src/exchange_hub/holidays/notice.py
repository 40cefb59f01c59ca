"""Reading a holiday arrangement file: the State Council's notice typed in.

CSV, UTF-8 (a byte-order mark is accepted), header ``date,kind,name``, one
day a line::

    date,kind,name
    2027-02-06,holiday,春节
    2027-01-31,workday,春节

``holiday``: an official rest day (放假), weekends inside the holiday included;
``workday``: a Saturday or Sunday worked in exchange (调休上班, 补班). Every
line is checked before anything is loaded: a bad date, an unknown kind, a
weekday marked ``workday``, a date listed twice are each reported with their
line number (the header is line 1) and field (``lines[4].date``).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from datetime import date

from exchange_hub.errors import InvalidInput

HEADER = ("date", "kind", "name")
KINDS = ("holiday", "workday")
FIRST_YEAR, LAST_YEAR = 2000, 2099
MAX_LINES = 2_000
MAX_NAME = 60
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class CalendarLine:
    """One checked line of an arrangement file."""

    line: int
    day: date
    kind: str
    name: str


@dataclass(frozen=True)
class LineError:
    line: int
    column: str | None
    detail: str

    @property
    def field(self) -> str:
        return f"lines[{self.line}]" + (f".{self.column}" if self.column else "")

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "field": self.field, "detail": self.detail}


def refuse(errors: list[LineError]) -> InvalidInput:
    """A 422 listing every bad line; its ``field`` names the first."""
    count = f"{len(errors)} bad line{'s' if len(errors) > 1 else ''}"
    return InvalidInput(
        f"{count} in the calendar file (first: {errors[0].field}: {errors[0].detail}); "
        "nothing was loaded",
        field=errors[0].field,
        extra={"errors": [e.as_dict() for e in errors]},
    )


# -- reading -------------------------------------------------------------------------
def read_calendar_csv(data: bytes) -> list[CalendarLine]:
    """Every line of the file, checked; raises ``InvalidInput`` listing each bad line."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""), strict=True)
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        line = max(reader.line_num, 1)  # the line being read when it failed
        raise refuse([LineError(line, None, f"not valid CSV: {exc}")]) from exc
    if not rows:
        raise refuse([LineError(1, None, "the file is empty; line 1 must be date,kind,name")])
    _check_header(rows[0][1])
    body = [(number, row) for number, row in rows[1:] if any(cell.strip() for cell in row)]
    if not body:
        raise refuse([LineError(2, None, "the file lists no days after its header")])
    if len(body) > MAX_LINES:
        raise refuse([LineError(body[MAX_LINES][0], None, f"more than {MAX_LINES} days")])
    return _checked_lines(body)


def _decode(data: bytes) -> str:
    """UTF-8, with or without a byte-order mark; anything else is refused, not guessed."""
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        detail = (
            "the file is not UTF-8 (a GBK file, say): save it as UTF-8 "
            "(with or without BOM) and load it again"
        )
        raise refuse([LineError(line, None, detail)]) from exc


def _check_header(cells: list[str]) -> None:
    if tuple(c.strip().lower() for c in cells) != HEADER:
        found = ",".join(cells)[:80]
        raise refuse(
            [LineError(1, None, f"line 1 must be the header date,kind,name, not {found!r}")]
        )


def _checked_lines(body: list[tuple[int, list[str]]]) -> list[CalendarLine]:
    lines: list[CalendarLine] = []
    errors: list[LineError] = []
    first_seen: dict[date, int] = {}
    for number, row in body:
        checked = _check_row(number, row, first_seen)
        if isinstance(checked, CalendarLine):
            lines.append(checked)
        else:
            errors.extend(checked)
    if errors:
        raise refuse(errors)
    return lines


def _check_row(
    number: int, row: list[str], first_seen: dict[date, int]
) -> CalendarLine | list[LineError]:
    if len(row) != len(HEADER):
        return [LineError(number, None, f"expected 3 fields date,kind,name, found {len(row)}")]
    text, kind, name = (cell.strip() for cell in row)
    kind = kind.lower()
    errors: list[LineError] = []
    day = _parse_day(text)
    if day is None:
        errors.append(LineError(number, "date", f"{text!r} is not a date written YYYY-MM-DD"))
    elif not FIRST_YEAR <= day.year <= LAST_YEAR:
        errors.append(LineError(number, "date", f"the year must be {FIRST_YEAR}–{LAST_YEAR}"))
    elif day in first_seen:
        errors.append(
            LineError(number, "date", f"{day} is listed twice (also line {first_seen[day]})")
        )
    if kind not in KINDS:
        errors.append(LineError(number, "kind", f"{kind!r} is not a kind: holiday or workday"))
    elif kind == "workday" and day is not None and day.weekday() < 5:
        errors.append(LineError(number, "kind", _weekday_workday(day)))
    if len(name) > MAX_NAME:
        errors.append(LineError(number, "name", f"at most {MAX_NAME} characters"))
    elif any(char < " " for char in name):
        errors.append(LineError(number, "name", "control characters are not allowed"))
    if day is not None:
        first_seen.setdefault(day, number)
    return errors or CalendarLine(number, day, kind, name)  # type: ignore[arg-type]


def _parse_day(text: str) -> date | None:
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _weekday_workday(day: date) -> str:
    return (
        f"{day} is a {WEEKDAYS[day.weekday()]}, a working day anyway: a make-up working "
        "day (补班) is a Saturday or Sunday"
    )

"""Batches as tables: the header row, the rows, and XLSX workbooks.

A CSV batch and an XLSX batch (the registers county offices keep in Excel) read
alike: the first row names the columns — the names of ``checking.CSV_COLUMNS``
(``person.`` and ``certificate.`` prefixes allowed) or their Chinese labels
(``checking.COLUMN_LABELS``) — and each later row is one record; empty cells are
left out, and a row with every cell empty is skipped. Line numbers are the
sheet's row numbers (the header is row 1), so a clerk finds a rejected row where
Excel shows it.

XLSX (ECMA-376, ``application/vnd.openxmlformats-officedocument.spreadsheetml.sheet``):
the first sheet only, read with openpyxl's read-only mode, which streams the
sheet's XML row by row from the spooled body (memory stays flat, except for the
workbook's shared-strings table, which openpyxl holds whole). Cells keep
their spreadsheet types until here: dates become ``YYYY-MM-DD``, whole numbers
their digits; an ID number typed as a number is refused, since Excel keeps only
15 significant digits of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from typing import IO, Any

from exchange_hub.errors import InvalidInput
from exchange_hub.records.checking import (
    BOOLEAN_COLUMNS,
    COLUMN_OF_LABEL,
    CSV_COLUMNS,
    MAX_LINE_BYTES,
    Rejection,
    Task,
)

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "是", "已查验"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "否", "未查验"})
NUMBER_MEANS_LOST_DIGITS = frozenset({"id_number", "phone", "certificate_number"})


# -- the header -------------------------------------------------------------------
def header_names(cells: list[Any] | None, *, what: str) -> list[str]:
    """The columns the header row names (422 ``header`` for an unknown or repeated one)."""
    texts = [str(cell) if cell is not None else "" for cell in cells or ()]
    while texts and not texts[-1].strip():
        texts.pop()  # a spreadsheet's trailing empty cells
    if not texts:
        where = "line" if what == "CSV" else "row"
        raise InvalidInput(
            f"the {what} body is empty; the first {where} must be the header", field="body"
        )
    names = [column_name(text) for text in texts]
    unknown = [n or "(empty)" for n in names if n not in CSV_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown {what} columns {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)} "
            "(or their Chinese labels)",
            field="header",
        )
    if len(set(names)) != len(names):
        raise InvalidInput(f"a {what} column is named twice in the header", field="header")
    return names


def column_name(cell: str) -> str:
    """A header cell as a column name: the name itself (``person.`` and ``certificate.``
    prefixes allowed) or its Chinese label (``checking.COLUMN_LABELS``)."""
    name = cell.strip().lstrip("\ufeff")
    if name in COLUMN_OF_LABEL:
        return COLUMN_OF_LABEL[name]
    name = name.lower().removeprefix("person.")
    return name.replace("certificate.", "certificate_")


# -- a row ---------------------------------------------------------------------------
def table_row(header: list[str], cells: list[Any] | tuple[Any, ...]) -> dict[str, Any] | Rejection:
    """A row of a table (CSV or XLSX) as a record: text cells as typed (read by
    ``model_validate_strings``), yes/no columns as booleans, empty cells left out."""
    item: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=False):
        value = cell.strip() if isinstance(cell, str) else cell
        if value is None or value == "":
            continue
        if name in BOOLEAN_COLUMNS:
            value = _yes_or_no(value)
            if value is None:
                return Rejection(name, "write true or false (是 or 否)")
        *parents, leaf = CSV_COLUMNS[name]
        target = item
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return item


def _yes_or_no(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def cell_text(name: str, value: Any) -> Any:
    """A spreadsheet cell as the text a CSV would hold (booleans stay booleans), or a
    ``Rejection``: a date as ``YYYY-MM-DD``, a whole number as its digits."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        if name in NUMBER_MEANS_LOST_DIGITS:
            return Rejection(
                name, "the cell holds a number, which loses digits in Excel: format the "
                "column as text (文本) and type the value again",
            )  # fmt: skip
        return str(int(value)) if float(value).is_integer() else str(value)
    return str(value)  # a time or a duration: the validator says what it should be


def sheet_row(header: list[str], cells: tuple[Any, ...]) -> dict[str, Any] | Rejection | None:
    """One sheet row as a record, a ``Rejection``, or None when every cell is empty."""
    texts: list[Any] = []
    size = 0
    for index, value in enumerate(cells):
        name = header[index] if index < len(header) else None
        text = cell_text(name or "", value)
        if isinstance(text, Rejection):
            return text
        if name is None and text not in (None, ""):
            return Rejection("body", f"the row has a value in column {index + 1}, "
                             f"beyond the header's {len(header)} columns")  # fmt: skip
        size += len(text) if isinstance(text, str) else 1
        texts.append(text)
    if all(t is None or (isinstance(t, str) and not t.strip()) for t in texts):
        return None
    if size > MAX_LINE_BYTES:
        return Rejection("body", f"the row is longer than {MAX_LINE_BYTES} characters")
    return table_row(header, texts)


# -- XLSX ----------------------------------------------------------------------------
def chunks(fmt: str, items: Iterator[tuple[int, Any]], rows: int) -> Iterator[Task]:
    """A table's parsed rows in chunks of ``rows``, each a ``Task`` for the checkers."""
    parsed: list[tuple[int, Any]] = []
    for number, item in items:
        parsed.append((number, item))
        if len(parsed) >= rows:
            yield Task(fmt, parsed[0][0], number, parsed=parsed)
            parsed = []
    if parsed:
        yield Task(fmt, parsed[0][0], parsed[-1][0], parsed=parsed)


def xlsx_items(source: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    workbook = _open_workbook(source)
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # not every writer states the sheet's size correctly
        rows = _guarded(sheet.iter_rows(values_only=True))
        first: tuple[Any, ...] = next(rows, ())
        header = header_names(list(first), what="XLSX")
        for number, cells in enumerate(rows, start=2):
            item = sheet_row(header, cells)
            if item is not None:
                yield number, item
    finally:
        workbook.close()


def _guarded(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The sheet's rows; a sheet that breaks off (a truncated or corrupt file) is a 422."""
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # zlib, zipfile or XML errors from inside openpyxl
            raise _not_a_workbook() from exc
        yield cells


def _open_workbook(source: IO[bytes]) -> Any:
    from openpyxl import load_workbook  # only batches in XLSX pay for importing it

    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # a zip or XML fault, openpyxl's InvalidFileException …: the
        # body, not the hub, is at fault, whichever library part noticed it
        raise _not_a_workbook() from exc
    if not workbook.worksheets:
        workbook.close()
        raise InvalidInput("the XLSX workbook has no sheet", field="body")
    return workbook


def _not_a_workbook() -> InvalidInput:
    return InvalidInput(
        "the body is not an XLSX workbook (save it from Excel or WPS as .xlsx)", field="body"
    )

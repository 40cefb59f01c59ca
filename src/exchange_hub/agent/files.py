"""Files the agent reads and writes for a clerk: tables (CSV in UTF-8 or GBK, XLSX),
rejected lines picked out of a pushed file, and writes that a crash cannot tear.

Line numbers are the hub's (``records/batch.py``, ``records/tabular.py``): physical
lines from 1 for NDJSON and CSV (a CSV record starts on the line the hub names),
sheet rows from 1 for XLSX; the header is line 1.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REASON_HEADER = ["原行号 line", "字段 field", "原因 reason"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, fsynced, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(out.name, path)
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: the directory entry is in the folder)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def text_encoding(data: bytes) -> str:
    """``utf-8-sig`` for UTF-8 (with or without BOM), else ``gb18030`` (a superset of GBK)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


# -- reading tables ---------------------------------------------------------------------
def csv_rows(path: Path, encoding: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of each CSV record, the header's line being 1."""
    data = path.read_bytes()
    text = data.decode(encoding or text_encoding(data), errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    consumed = 0
    for cells in reader:
        yield consumed + 1, cells
        consumed = reader.line_num


def xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(cells)
    finally:
        workbook.close()


def table_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    if path.suffix.lower() == ".xlsx":
        return xlsx_rows(path)
    return csv_rows(path)


# -- writing tables ---------------------------------------------------------------------
def xlsx_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list[Any]], encoding: str = "utf-8-sig") -> bytes:
    """CSV for Excel: UTF-8 with a BOM (Excel then reads Chinese right), or GBK as given."""
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(
        [["" if cell is None else cell for cell in row] for row in rows]
    )
    return out.getvalue().encode(encoding, errors="replace")


# -- rejected lines ---------------------------------------------------------------------
def rejected_files(
    source: Path, rejected: list[dict[str, Any]], target: Path, encoding: str, stem: str
) -> list[Path]:
    """Write the rejected lines of ``source`` where a clerk can fix them and drop the
    file back in the outbox; return the files written (none when nothing was rejected).

    XLSX: one workbook, the first sheet laid out as the original (header and the
    rejected rows as they were) and a second sheet of reasons. CSV: the rows in the
    original's encoding and a reasons CSV beside it. NDJSON: the lines as they were
    and the reasons CSV.
    """
    if not rejected:
        return []
    wanted = {item["line"] for item in rejected}
    reasons = [REASON_HEADER] + [[r["line"], r["field"], r["detail"]] for r in rejected]
    kind = source.suffix.lower()
    if kind == ".xlsx":
        rows = [cells for number, cells in xlsx_rows(source) if number == 1 or number in wanted]
        out = target / f"{stem}.rejected.xlsx"
        atomic_write(out, xlsx_bytes({"待改正": rows, "原因": reasons}))
        return [out]
    reasons_file = target / f"{stem}.rejected.reasons.csv"
    atomic_write(reasons_file, csv_bytes(reasons))
    if kind == ".csv":
        text_enc = "gb18030" if encoding == "gb18030" else "utf-8-sig"
        rows = [cells for number, cells in csv_rows(source, text_enc)
                if number == 1 or number in wanted]  # fmt: skip
        out = target / f"{stem}.rejected.csv"
        atomic_write(out, csv_bytes(rows, "gb18030" if text_enc == "gb18030" else "utf-8-sig"))
        return [out, reasons_file]
    lines = [line for number, line in enumerate(source.read_bytes().split(b"\n"), start=1)
             if number in wanted]  # fmt: skip
    out = target / f"{stem}.rejected{source.suffix}"
    atomic_write(out, b"\n".join(lines) + b"\n")
    return [out, reasons_file]

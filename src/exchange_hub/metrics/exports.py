"""The bulletin as CSV (UTF-8 with BOM, so Excel shows Chinese) and XLSX (one sheet per table).

Numbers stay numbers; in XLSX a rate is the fraction formatted ``0.0%``; a
rate with a zero denominator is written "—" (SPEC §5), never 0 % or 100 %.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from exchange_hub.metrics.schemas import Bulletin, BulletinColumn, BulletinTable, Rate

DASH = "—"
BOM = "\ufeff"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def rate_value(cell: Any) -> float | None:
    """The fraction of a rate cell (a ``Rate`` or its JSON dict), None for "—"."""
    if isinstance(cell, Rate):
        return cell.rate
    if isinstance(cell, dict):
        return cell.get("rate")
    return cell  # type: ignore[no-any-return]


def text_cell(column: BulletinColumn, value: Any) -> str:
    if isinstance(value, str):  # a word in place of a figure, e.g. 无月报 (no report)
        return value
    if column.type == "rate":
        fraction = rate_value(value)
        return DASH if fraction is None else f"{fraction * 100:.1f}%"
    if value is None:
        return DASH
    return str(value)


def bulletin_csv(bulletin: Bulletin) -> bytes:
    """Every table as a titled block: title line, header, rows, blank line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([f"{bulletin.name}({bulletin.region}) 月度通报", bulletin.period,
                     f"统计时点 {bulletin.as_of.isoformat()}"])  # fmt: skip
    writer.writerow([])
    for table in bulletin.tables:
        writer.writerow([table.title])
        writer.writerow([c.title for c in table.columns])
        for row in table.rows:
            writer.writerow([text_cell(c, row.get(c.key)) for c in table.columns])
        writer.writerow([])
    return (BOM + buffer.getvalue()).encode("utf-8")


def bulletin_xlsx(bulletin: Bulletin) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    for table in bulletin.tables:
        _write_sheet(workbook, _sheet_name(table.title, used), table)
    about = workbook.create_sheet(_sheet_name("说明", used))
    about.append(["地区", f"{bulletin.name}({bulletin.region})"])
    about.append(["期间", bulletin.period])
    about.append(["统计时点(UTC)", bulletin.as_of.isoformat()])
    about.append(["说明", "比率分母为0时显示“—”;上级汇总为分子分母分别相加,不取比率平均。"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _write_sheet(workbook: Workbook, name: str, table: BulletinTable) -> None:
    sheet = workbook.create_sheet(name)
    sheet.append([c.title for c in table.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row_number, row in enumerate(table.rows, start=2):
        for column_number, column in enumerate(table.columns, start=1):
            target = sheet.cell(row=row_number, column=column_number)
            value = row.get(column.key)
            if isinstance(value, str):
                target.value = value
            elif column.type == "rate":
                fraction = rate_value(value)
                target.value = DASH if fraction is None else fraction
                target.number_format = "0.0%"
            elif column.type in ("int", "number"):
                target.value = DASH if value is None else value
            else:
                target.value = "" if value is None else str(value)
    for index, column in enumerate(table.columns, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(10, 2 * len(column.title) + 2)
    sheet.freeze_panes = "A2"


def _sheet_name(title: str, used: set[str]) -> str:
    """Excel sheet names: at most 31 characters, no []:*?/\\, unique."""
    base = _SHEET_FORBIDDEN.sub("_", title)[:31] or "Sheet"
    name, counter = base, 2
    while name in used:
        suffix = f"({counter})"
        name, counter = base[: 31 - len(suffix)] + suffix, counter + 1
    used.add(name)
    return name


def export(bulletin: Bulletin, format: str) -> tuple[bytes, str]:
    """The bytes and media type of a bulletin in ``csv`` or ``xlsx``."""
    if format == "csv":
        return bulletin_csv(bulletin), CSV_MEDIA_TYPE
    return bulletin_xlsx(bulletin), XLSX_MEDIA_TYPE

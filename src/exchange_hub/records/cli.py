"""Operator commands of the records domain: ``import``.

``exchange-hub import FILE --as 110105`` lands a county's NDJSON, CSV or XLSX file
exactly as ``POST /api/v1/records/batch`` would (same checks, same line
numbers), for operators loading files handed over on media.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from exchange_hub.commands import console, fail, open_hub
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import HubError
from exchange_hub.records import batch, service
from exchange_hub.records.checking import COLUMN_LABELS
from exchange_hub.records.schemas import BatchResult
from exchange_hub.regions import service as regions
from exchange_hub.scope import Caller


def _format_for(path: Path, given: str | None) -> batch.BodyFormat:
    kind = given or {".csv": "csv", ".xlsx": "xlsx"}.get(path.suffix.lower(), "ndjson")
    if kind not in ("csv", "ndjson", "xlsx"):
        raise typer.BadParameter("--format is csv, ndjson or xlsx")
    return batch.BodyFormat(kind, None)


def _operator_as(hub: HubContext, county: str) -> Caller:
    with hub.sessions() as session:
        region = regions.require_current_county(session, county, field="--as")
    return Caller(member_id=None, name="operator:cli", role="county", region=region.code)


IMPORT_HELP = f"""Import a county's records file, with a progress bar and a summary.

Exits 0 when every line landed, 1 when any line was rejected (or the file could not be
read at all): the summary and the rejected lines (line, field, reason) say which.

NDJSON (.ndjson, .jsonl; UTF-8): one record per line, as POST /api/v1/records takes it,
e.g. {{"kind": "outflow", "person": {{"id_number": "11010519491231002X", "name": "张三"}},
"residence_region": "440305", "moved_on": "2026-10-02"}}. Blank lines are skipped.

CSV (.csv; UTF-8 with or without BOM, or GBK): a header row naming the columns, then one
record per row; empty cells are left out. Columns (or their Chinese labels):
{", ".join(f"{name} ({label})" for name, label in COLUMN_LABELS.items())}.
kind is outflow or inflow, sex M or F, dates YYYY-MM-DD, codes 6 digits.

XLSX (.xlsx): the first sheet, laid out as the CSV; line numbers are the sheet's rows.

Line numbers count physical lines from 1 (a CSV's header is line 1). Examples:
docs/examples/records.ndjson and docs/examples/records.csv in the hub's source.
"""


def import_file(
    file: Annotated[Path, typer.Argument(help="NDJSON (.ndjson/.jsonl), CSV or XLSX file")],
    as_county: Annotated[str, typer.Option("--as", help="the registering county (6 digits)")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv | ndjson | xlsx")] = None,
) -> None:
    if not file.is_file():
        raise typer.BadParameter(f"{file} is not a file")
    with open_hub(people=service) as hub:
        try:
            caller = _operator_as(hub, as_county)
            result = _run_import(hub, caller, file, _format_for(file, fmt))
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
    _print_summary(result)
    if result.rejected_count:
        raise fail(
            f"{result.rejected_count} 行被拒收（共 {result.lines} 行，收下 {result.accepted} 行）："
            "改正这些行后重新导入；已收下的行再导入不会重复"
        )


def _run_import(hub: HubContext, caller: Caller, file: Path, fmt: batch.BodyFormat) -> BatchResult:
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress, file.open("rb") as source:
        task = progress.add_task(f"importing {file.name}", total=file.stat().st_size)
        with transaction(hub.sessions) as session:
            result = batch.ingest(
                session, caller, source, fmt=fmt,
                progress=lambda done: progress.update(task, completed=done),
            )  # fmt: skip
        progress.update(task, completed=file.stat().st_size)
    return result


def _print_summary(result: BatchResult) -> None:
    table = Table("lines", "accepted", "created", "updated", "unchanged", "rejected")
    table.add_row(*(str(getattr(result, k)) for k in ("lines", "accepted", "created", "updated",
                                                      "unchanged", "rejected_count")))  # fmt: skip
    console.print(table)
    if result.rejected:
        rejected = Table("line", "field", "reason", title="rejected lines")
        for item in result.rejected[:50]:
            rejected.add_row(str(item.line), item.field, item.detail)
        console.print(rejected)
        if result.rejected_count > 50:
            console.print(f"… and {result.rejected_count - 50} more")


def register(app: typer.Typer) -> None:
    """Add ``import`` to the ``exchange-hub`` CLI (``keys rotate``: ``keys_cli``)."""
    app.command("import", help=IMPORT_HELP)(import_file)

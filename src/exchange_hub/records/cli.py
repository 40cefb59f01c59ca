"""Operator commands of the records domain: ``import``.

``exchange-hub import FILE --as 110105`` lands a county's NDJSON or CSV file
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
from exchange_hub.records.schemas import BatchResult
from exchange_hub.regions import service as regions
from exchange_hub.scope import Caller


def _format_for(path: Path, given: str | None) -> batch.BodyFormat:
    kind = given or ("csv" if path.suffix.lower() == ".csv" else "ndjson")
    if kind not in ("csv", "ndjson"):
        raise typer.BadParameter("--format is csv or ndjson")
    return batch.BodyFormat(kind, None)


def _operator_as(hub: HubContext, county: str) -> Caller:
    with hub.sessions() as session:
        region = regions.require_current_county(session, county, field="--as")
    return Caller(member_id=None, name="operator:cli", role="county", region=region.code)


def import_file(
    file: Annotated[Path, typer.Argument(help="NDJSON (.ndjson/.jsonl) or CSV (.csv) file")],
    as_county: Annotated[str, typer.Option("--as", help="the registering county (6 digits)")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv | ndjson")] = None,
) -> None:
    """Import a county's records file, with a progress bar and a summary."""
    if not file.is_file():
        raise typer.BadParameter(f"{file} is not a file")
    with open_hub(people=service) as hub:
        try:
            caller = _operator_as(hub, as_county)
            result = _run_import(hub, caller, file, _format_for(file, fmt))
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
    _print_summary(result)


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
    app.command("import")(import_file)

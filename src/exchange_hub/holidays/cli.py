"""``exchange-hub calendar load FILE`` and ``exchange-hub calendar show YEAR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from exchange_hub import clock
from exchange_hub.commands import console, err, fail, open_hub
from exchange_hub.db import transaction
from exchange_hub.errors import HubError
from exchange_hub.holidays import service
from exchange_hub.holidays.service import LoadResult, YearView
from exchange_hub.scope import NATION, Caller

calendar_app = typer.Typer(
    help="The holiday calendar: the State Council's yearly arrangement of rest and working days.",
    no_args_is_help=True,
)

OPERATOR = Caller(member_id=None, name="cli", role="admin", region=NATION)
"""The operator acts as the nation's admin."""
WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")
KIND_LABELS = {"holiday": "holiday 放假", "workday": "workday 补班"}


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")


@calendar_app.command("load")
def load(
    file: Annotated[
        Path, typer.Argument(help="CSV: date,kind,name (UTF-8)", exists=True, dir_okay=False)
    ],
) -> None:
    """Load the arrangement from FILE: every line checked first; nothing loaded if one is bad."""
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                result = service.load_calendar_file(
                    session, OPERATOR, data=file.read_bytes(), source=f"file:{file.name}"
                )
        except HubError as exc:
            _print_refusal(file, exc)
            raise typer.Exit(1) from exc
    _print_load(result)


@calendar_app.command("show")
def show(year: Annotated[int, typer.Argument(help="e.g. 2027")]) -> None:
    """List YEAR's rest days and make-up working days, and whether the year is covered."""
    with open_hub() as hub:
        try:
            with hub.sessions() as session:
                view = service.show_year(session, year=year, today=clock.today())
        except HubError as exc:
            raise fail(exc.detail) from exc
    _print_year(view)


def _print_refusal(file: Path, exc: HubError) -> None:
    lines = exc.extra.get("errors") or [{"field": exc.field or "", "detail": exc.detail}]
    err.print(f"[red]error:[/red] {file}: nothing was loaded")
    for line in lines:
        err.print(f"  {line['field']}: {line['detail']}")


def _print_load(result: LoadResult) -> None:
    table = Table("date", "", "kind", "name", "outcome")
    for day in result.days:
        outcome = day.outcome
        if day.outcome == "changed":
            outcome = f"changed (was {day.previous_kind} {day.previous_name})"
        table.add_row(day.day.isoformat(), WEEKDAYS[day.day.weekday()], day.kind, day.name, outcome)
    console.print(table)
    counts = result.counts
    console.print(
        f"{counts['added']} days added, {counts['changed']} changed, "
        f"{counts['unchanged']} unchanged (source {result.source})"
    )
    console.print(f"years covered by this file: {_years(result.years_covered)}"
                  f" (newly covered: {_years(result.newly_covered)})")  # fmt: skip
    console.print(f"covered until: {result.covered_until or 'nothing covered'}")
    console.print(
        f"deadlines recomputed: {result.messages_recomputed} messages, "
        f"{result.reports_recomputed} received reports"
    )


def _print_year(view: YearView) -> None:
    if view.covered:
        console.print(f"{view.year}: covered (source {view.source})")
    else:
        console.print(
            f"{view.year}: NOT covered: deadlines count weekends only (weekends_only) "
            "until the arrangement is loaded with `exchange-hub calendar load`"
        )
    table = Table("date", "", "kind", "name", "source")
    for day in view.days:
        table.add_row(
            day.date.isoformat(), WEEKDAYS[day.date.weekday()], KIND_LABELS[day.kind],
            day.name, day.source,
        )  # fmt: skip
    console.print(table)
    console.print(f"covered until: {view.covered_until or 'nothing covered'}")


def _years(years: list[int]) -> str:
    return ", ".join(str(y) for y in years) or "none"

"""Operator commands of the reports domain: ``exchange-hub reports …``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from exchange_hub.audit import service as audit
from exchange_hub.commands import console, fail, open_hub
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import HubError
from exchange_hub.reports import pairs as reporting_pairs
from exchange_hub.reports import service
from exchange_hub.reports.catalogue import CatalogueError, ReportCatalogue, load_catalogue
from exchange_hub.scope import NATION, Caller
from exchange_hub.workdays import SHANGHAI

reports_app = typer.Typer(
    help="Department monthly reports: reporting pairs, reminders, figures.", no_args_is_help=True
)

OPERATOR = Caller(member_id=None, name="cli", role="admin", region=NATION)
"""The operator acts for the whole installation."""

RegionOption = Annotated[
    str, typer.Option(help="county, prefecture or province (41, 4101, 410102)")
]
DepartmentOption = Annotated[
    list[str], typer.Option(help="department (repeat the option), or 'all'")
]


def register(app: typer.Typer) -> None:
    """Add ``exchange-hub reports …`` to the main CLI."""
    app.add_typer(reports_app, name="reports")


def _run(work: Callable[[HubContext], Any]) -> Any:
    """Run ``work`` on a hub, turning the hub's refusals into a clean exit 1."""
    with open_hub() as hub:
        try:
            return work(hub)
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
        except CatalogueError as exc:
            raise fail(str(exc)) from exc


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"{option} must be a date YYYY-MM-DD, not {text!r}") from exc


def _catalogue(hub: HubContext) -> ReportCatalogue:
    return load_catalogue(hub.settings.report_catalogue_file)


def _print_changes(changes: list[reporting_pairs.PairChange]) -> None:
    table = Table("county", "department", "changed", "note")
    for change in changes:
        table.add_row(
            change.region, change.department, "yes" if change.changed else "no", change.note
        )
    console.print(table)
    console.print(f"{sum(c.changed for c in changes)} of {len(changes)} pairs changed")


def _pair_audit(action: str, detail: dict[str, Any]) -> audit.AuditEntry:
    return audit.AuditEntry(
        action=action, actor="operator:cli", object_type="report_pair", detail=detail
    )


@reports_app.command("activate")
def activate(
    region: RegionOption,
    department: DepartmentOption,
    from_: Annotated[str, typer.Option("--from", help="first day the pair is active (YYYY-MM-DD)")],
    until: Annotated[str | None, typer.Option(help="last day it is active (inclusive)")] = None,
) -> None:
    """Make county–department pairs owe a report for every month they are active in full."""
    start, end = _day(from_, "--from"), _day(until, "--until")
    assert start is not None

    def work(hub: HubContext) -> list[reporting_pairs.PairChange]:
        with transaction(hub.sessions) as session:
            departments = reporting_pairs.check_departments(department, _catalogue(hub))
            changes = reporting_pairs.activate_pairs(
                session, region=region, departments=departments, active_from=start, active_until=end
            )
            detail = {"region": region, "departments": departments, "from": str(start),
                      "until": str(end) if end else None,
                      "changed": sum(c.changed for c in changes)}  # fmt: skip
            audit.record(session, _pair_audit("report_pairs.activate", detail))
            return changes

    _print_changes(_run(work))


@reports_app.command("deactivate")
def deactivate(
    region: RegionOption,
    department: DepartmentOption,
    until: Annotated[str, typer.Option(help="last day the pair owes reports for (inclusive)")],
) -> None:
    """End county–department pairs: no report is expected for months after ``--until``."""
    end = _day(until, "--until")
    assert end is not None

    def work(hub: HubContext) -> list[reporting_pairs.PairChange]:
        with transaction(hub.sessions) as session:
            departments = reporting_pairs.check_departments(department, _catalogue(hub))
            changes = reporting_pairs.deactivate_pairs(
                session, region=region, departments=departments, until=end
            )
            detail = {"region": region, "departments": departments, "until": str(end),
                      "changed": sum(c.changed for c in changes)}  # fmt: skip
            audit.record(session, _pair_audit("report_pairs.deactivate", detail))
            return changes

    _print_changes(_run(work))


@reports_app.command("pairs")
def pairs(region: RegionOption) -> None:
    """List the reporting pairs inside a region with their active dates."""

    def work(hub: HubContext) -> None:
        with hub.sessions() as session:
            table = Table("county", "department", "from", "until")
            for pair in reporting_pairs.list_pairs(session, region=region):
                table.add_row(pair.region, pair.department, str(pair.active_from),
                              str(pair.active_until or "—"))  # fmt: skip
            console.print(table)

    _run(work)


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"--as-of must be an ISO date-time, not {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


@reports_app.command("missing")
def missing(
    region: RegionOption,
    period: Annotated[
        str | None, typer.Option(help="2026-10 (default: the last 12 months)")
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="evaluation time (default now)")] = None,
) -> None:
    """Who has not reported (催报), the most overdue first."""
    moment = _as_of(as_of)

    def work(hub: HubContext) -> None:
        with hub.sessions() as session:
            rows = service.missing_for(
                session, OPERATOR, region=region, period=period, as_of=moment,
                due_day=hub.settings.report_due_day,
            )  # fmt: skip
        table = Table("period", "county", "name", "department", "deadline", "days late")
        for row in rows:
            deadline = row.deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
            late = str(row.days_late) if row.overdue else "not yet due"
            table.add_row(row.period, row.region, row.name, row.department, deadline, late)
        console.print(table)
        console.print(f"{len(rows)} reports missing")

    _run(work)


@reports_app.command("rates")
def rates(
    region: RegionOption,
    period: Annotated[str, typer.Option(help="2026-10, 2026-Q4 or 2026")],
    level: Annotated[str | None, typer.Option(help="county | prefecture | province")] = None,
    as_of: Annotated[str | None, typer.Option(help="evaluation time (default now)")] = None,
) -> None:
    """Reporting and on-time rates of the regions inside ``--region``."""
    moment = _as_of(as_of)

    def work(hub: HubContext) -> None:
        with hub.sessions() as session:
            result = service.rates_for(
                session, OPERATOR, region=region, period=period, level=level, as_of=moment
            )
        table = Table("region", "name", "expected", "received", "on time", "zero", "unexpected",
                      "reporting", "on-time")  # fmt: skip
        for row in [*result.rows, result.total]:
            counts = (row.expected, row.received, row.on_time, row.zero, row.unexpected)
            rates = (row.reporting_rate.value, row.on_time_rate.value)
            table.add_row(row.region, row.name, *map(str, counts), *map(_percent, rates))
        console.print(table)
        for item in result.inconsistencies:
            console.print(f"[yellow]inconsistency:[/yellow] {item.period} {item.region} "
                          f"{item.department}: {item.reason}")  # fmt: skip

    _run(work)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


@reports_app.command("catalogue")
def catalogue() -> None:
    """Print each department's report type and counted items (bundled + operator file)."""

    def work(hub: HubContext) -> None:
        types = _catalogue(hub)
        table = Table("department", "item", "label")
        for department in types.departments:
            for key, label in types.types[department].items.items():
                table.add_row(department, key, label)
        console.print(table)

    _run(work)

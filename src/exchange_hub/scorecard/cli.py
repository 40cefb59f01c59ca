"""Operator commands of the scorecard: a province's own targets and weights."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from exchange_hub.commands import console, fail, open_hub
from exchange_hub.db import transaction
from exchange_hub.errors import HubError
from exchange_hub.regions.service import normalise_code
from exchange_hub.scorecard import settings
from exchange_hub.scorecard.config import config_for

scorecard_app = typer.Typer(
    help="Two-way assessment (双向考核) targets and weights.", no_args_is_help=True
)


@scorecard_app.command("set")
def set_target(
    province: Annotated[str, typer.Option(help="province code, e.g. 44 or 440000")],
    key: Annotated[
        str, typer.Option(help="indicator key, role.destination, role.origin or overall")
    ],
    target: Annotated[float | None, typer.Option(help="target in percent")] = None,
    weight: Annotated[float | None, typer.Option(help="weight")] = None,
) -> None:
    """Change a province's target and/or weight (written to the audit trail)."""
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                row = settings.change_setting(
                    session, None, province=province, key=key, target=target, weight=weight
                )
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
    console.print(f"{row.province} {row.key}: target {row.target}, weight {row.weight}")


@scorecard_app.command("show")
def show(province: Annotated[str, typer.Option(help="province code")]) -> None:
    """Print a province's effective targets and weights."""
    with open_hub() as hub, hub.sessions() as session:
        config = config_for(session, normalise_code(province, field="province"))
    table = Table("indicator", "role", "target %", "weight", "direction")
    for item in config.indicators:
        table.add_row(
            f"{item.key} {item.zh}",
            item.role,
            f"{item.target:g}",
            f"{item.weight:g}",
            item.direction,
        )
    console.print(table)
    console.print(
        f"role weights: destination {config.destination_weight:g}, origin {config.origin_weight:g};"
        f" overall target {config.overall_target:g}%"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(scorecard_app, name="scorecard")

"""Operator commands of the metrics domain: ``metrics refresh``."""

from __future__ import annotations

from typing import Annotated

import typer

from exchange_hub.commands import console, open_hub
from exchange_hub.metrics import tasks

metrics_app = typer.Typer(help="Exchange figures (rates, latency).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``exchange-hub metrics refresh``."""
    app.add_typer(metrics_app, name="metrics")


@metrics_app.command("refresh")
def refresh(
    full: Annotated[bool, typer.Option(help="recompute everything from the raw messages")] = False,
) -> None:
    """Fold changed messages into the exchange figures (job metrics.refresh)."""
    with open_hub() as hub:
        result = tasks.refresh(hub.sessions, full=full)
    console.print(
        f"{result.changed_messages} messages folded in, watermark {result.watermark.isoformat()}"
    )

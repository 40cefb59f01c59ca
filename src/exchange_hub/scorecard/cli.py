"""Operator commands of the scorecard domain, registered on the main CLI."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this domain's commands (or sub-command groups) to the ``exchange-hub`` CLI."""

"""What every ``exchange-hub`` command shares: the consoles, ``fail`` and ``open_hub``.

The domains' ``cli.py`` modules and the top-level ``cli.py`` import from here,
never from each other, so no domain imports ``exchange_hub.cli``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from exchange_hub.config import Settings
from exchange_hub.context import HubContext, build_context

# soft_wrap: a message is one line however long (a file path, a log collector's column
# width): Rich would otherwise break it at the terminal's width, or at 80 when piped.
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` to stderr; the caller raises the returned exit."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@contextmanager
def open_hub(settings: Settings | None = None, *, people: Any = None) -> Iterator[HubContext]:
    """A hub for one command, disposed when the command is done.

    ``people`` is the exchange's person directory
    (``exchange.directory.PersonDirectory``), passed on to ``build_context``;
    typed ``Any`` as there, since the exchange's commands import this module.
    """
    hub = build_context(settings or Settings(), people=people)
    try:
        yield hub
    finally:
        hub.dispose()

"""Operator commands of the jobs: ``jobs run``, ``jobs list`` and the ``worker`` loop."""

from __future__ import annotations

import json
import signal
import time
from typing import Annotated, Any

import typer

from exchange_hub.commands import console, open_hub
from exchange_hub.config import Settings
from exchange_hub.jobs import JOBS, run_all

jobs_app = typer.Typer(
    help="Scheduled jobs (push delivery and retries, figures refresh, purges).",
    no_args_is_help=True,
)


@jobs_app.command("run")
def jobs_run() -> None:
    """Run every due job once (safe while other processes run them too)."""
    with open_hub() as hub:
        results = run_all(hub)
    console.print_json(json.dumps(results))
    if any("error" in r for r in results.values()):
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list() -> None:
    """Name every registered job."""
    for name, job in JOBS.items():
        console.print(f"{name}: {(job.__doc__ or '').strip().splitlines()[0]}")


def worker(
    interval: Annotated[
        float | None, typer.Option(help="seconds between passes (default: settings)")
    ] = None,
) -> None:
    """Run every job in a loop until stopped (SIGTERM/SIGINT finish the current pass)."""
    settings = Settings()
    stopping = {"now": False}

    def stop(_signum: int, _frame: Any) -> None:
        stopping["now"] = True

    pause = interval if interval is not None else settings.worker_interval_seconds
    with open_hub(settings) as hub:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping["now"]:
            run_all(hub)
            deadline = time.monotonic() + pause
            while not stopping["now"] and time.monotonic() < deadline:
                time.sleep(min(0.2, pause))


def register(app: typer.Typer) -> None:
    """Add the jobs commands to the ``exchange-hub`` CLI."""
    app.add_typer(jobs_app, name="jobs")
    app.command("worker")(worker)

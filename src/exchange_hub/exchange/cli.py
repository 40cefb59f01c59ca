"""Operator commands of the exchange: jobs, the worker loop, receipts, push re-drive."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from exchange_hub import crypto, jsonbody
from exchange_hub.commands import console, err, open_hub
from exchange_hub.config import Settings
from exchange_hub.db import transaction
from exchange_hub.errors import BadRequest
from exchange_hub.exchange import delivery, receipts, tasks

jobs_app = typer.Typer(
    help="Scheduled jobs (push delivery and retries, purges).", no_args_is_help=True
)
receipts_app = typer.Typer(help="Hub receipts of accepted messages.", no_args_is_help=True)
pushes_app = typer.Typer(help="Push deliveries to member endpoints.", no_args_is_help=True)


@jobs_app.command("run")
def jobs_run() -> None:
    """Run every due job once (safe while other processes run them too)."""
    with open_hub() as hub:
        results = tasks.run_all(hub)
    console.print_json(json.dumps(results))
    if any("error" in r for r in results.values()):
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list() -> None:
    """Name every registered job."""
    for name, job in tasks.JOBS.items():
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
            tasks.run_all(hub)
            deadline = time.monotonic() + pause
            while not stopping["now"] and time.monotonic() < deadline:
                time.sleep(min(0.2, pause))


@receipts_app.command("verify")
def receipts_verify(
    file: Annotated[
        str, typer.Argument(help="a receipt (or POST /messages response) as JSON; - for stdin")
    ],
    public_key: Annotated[
        str | None, typer.Option(help="the hub's public key (base64); default: this hub's key ring")
    ] = None,
) -> None:
    """Check a hub receipt's signature; exit 1 when it does not verify."""
    text = sys.stdin.read() if file == "-" else _read(file)
    try:
        receipt = receipts.extract_receipt(jsonbody.loads(text, field="file", what="the file"))
    except BadRequest as exc:  # not JSON, or nested too deep
        err.print(f"[red]not JSON:[/red] {exc.detail}")
        raise typer.Exit(2) from exc
    if receipt is None:
        err.print("[red]no receipt found[/red] (expected an object with a signature)")
        raise typer.Exit(2)
    if public_key:
        ok = receipts.verify_receipt_with_key(public_key, receipt)
    else:
        settings = Settings()
        ring = crypto.load_key_ring(settings.resolved_keys_file, create=False)
        ok = receipts.verify_receipt(ring, receipt)
    if not ok:
        err.print("[red]receipt does NOT verify[/red]")
        raise typer.Exit(1)
    console.print(
        f"receipt verifies: message {receipt.get('message_id')} digest {receipt.get('digest')} "
        f"accepted {receipt.get('accepted_at')}"
    )


def _read(file: str) -> str:
    path = Path(file)
    if not path.is_file():
        err.print(f"[red]no such file:[/red] {file}")
        raise typer.Exit(2)
    return path.read_text(encoding="utf-8")


@pushes_app.command("redrive")
def pushes_redrive(
    delivery_id: Annotated[
        list[int] | None, typer.Option("--id", help="only these deliveries (repeatable)")
    ] = None,
) -> None:
    """Queue failed pushes again with a fresh retry window."""
    with open_hub() as hub, transaction(hub.sessions) as session:
        count = delivery.redrive(session, delivery_ids=delivery_id or None)
    console.print(f"{count} push deliveries queued again")


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the ``exchange-hub`` CLI."""
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(receipts_app, name="receipts")
    app.add_typer(pushes_app, name="pushes")
    app.command("worker")(worker)

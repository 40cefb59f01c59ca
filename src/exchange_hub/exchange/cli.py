"""Operator commands of the exchange: jobs, the worker loop, receipts, push re-drive."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from exchange_hub import crypto, jsonbody
from exchange_hub.commands import console, err, open_hub
from exchange_hub.config import Settings
from exchange_hub.db import transaction
from exchange_hub.errors import BadRequest
from exchange_hub.exchange import delivery, receipts

receipts_app = typer.Typer(help="Hub receipts of accepted messages.", no_args_is_help=True)
pushes_app = typer.Typer(help="Push deliveries to member endpoints.", no_args_is_help=True)


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
        ring = crypto.load_key_ring(
            settings.resolved_keys_file, create=False, profile=settings.crypto_profile
        )
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
    app.add_typer(receipts_app, name="receipts")
    app.add_typer(pushes_app, name="pushes")

"""Operator commands of the metrics domain: ``bulletin`` and ``metrics refresh``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exchange_hub.commands import console, fail, open_hub
from exchange_hub.db import transaction
from exchange_hub.errors import HubError
from exchange_hub.members.scope import NATION, Caller
from exchange_hub.metrics import bulletin as bulletins
from exchange_hub.metrics import exports, tasks

OPERATOR = Caller(member_id=None, name="operator", role="admin", region=NATION)
_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}
metrics_app = typer.Typer(help="Exchange figures (rates, latency).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``exchange-hub bulletin`` and ``exchange-hub metrics refresh``."""
    app.command("bulletin")(bulletin)
    app.add_typer(metrics_app, name="metrics")


def bulletin(
    region: Annotated[str, typer.Option(help="region code: 44, 4403, 440305 or 000000")],
    period: Annotated[str, typer.Option(help="2026-10, 2026-Q4 or 2026")],
    out: Annotated[Path, typer.Option(help="output file; .xlsx, .csv or .json")],
    level: Annotated[str | None, typer.Option(help="county | prefecture | province")] = None,
    as_of: Annotated[str | None, typer.Option(help="evaluation time; default now")] = None,
) -> None:
    """Write the monthly bulletin (每月通报) of a region; the format follows the file suffix."""
    format = _FORMATS.get(out.suffix.lower())
    if format is None:
        raise fail(f"{out.name}: the file must end in .xlsx, .csv or .json")
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                result = bulletins.build_bulletin(
                    session, OPERATOR, region=region, period=period, level=level, as_of=as_of
                )
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
    if format == "json":
        content = result.model_dump_json(indent=2).encode()
    else:
        content, _media = exports.export(result, format)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    console.print(f"bulletin of {result.name} ({result.region}) {result.period} written to {out}")


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

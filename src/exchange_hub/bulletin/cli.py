"""The operator's ``exchange-hub bulletin``: the monthly bulletin written to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exchange_hub.bulletin import bulletin_file, read_bulletin
from exchange_hub.commands import console, fail, open_hub
from exchange_hub.db import transaction
from exchange_hub.errors import HubError
from exchange_hub.scope import NATION, Caller

OPERATOR = Caller(member_id=None, name="operator", role="admin", region=NATION)
_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json", ".pdf": "pdf"}


def register(app: typer.Typer) -> None:
    """Add ``exchange-hub bulletin``."""
    app.command("bulletin")(bulletin)


def bulletin(
    region: Annotated[str, typer.Option(help="region code: 44, 4403, 440305 or 000000")],
    period: Annotated[str, typer.Option(help="2026-10, 2026-Q4 or 2026")],
    out: Annotated[Path, typer.Option(help="output file; .xlsx, .csv, .json or .pdf")],
    level: Annotated[str | None, typer.Option(help="county | prefecture | province")] = None,
    as_of: Annotated[str | None, typer.Option(help="evaluation time; default now")] = None,
) -> None:
    """Write the monthly bulletin (每月通报) of a region; the format follows the file suffix
    (.pdf: the printable A4 bulletin, compared with the previous period)."""
    format = _FORMATS.get(out.suffix.lower())
    if format is None:
        raise fail(f"{out.name}: the file must end in .xlsx, .csv, .json or .pdf")
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                read = read_bulletin(
                    session, OPERATOR, format=format, region=region, period=period,
                    level=level, as_of=as_of,
                )  # fmt: skip
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
    result = read.current
    if format == "json":
        content = result.model_dump_json(indent=2).encode()
    else:  # built after the transaction ended, as the API does
        content, _media, _name = bulletin_file(read, format)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    console.print(f"bulletin of {result.name} ({result.region}) {result.period} written to {out}")

"""``exchange-hub keys rotate`` and ``keys reencrypt``: new keys, and rows moved onto them.

Changing profile without downtime (``docs/national-crypto.md``):

1. ``exchange-hub keys rotate --profile national`` adds the national keys to the
   ring file; copy it to every node and restart them one at a time (they still
   write with the international keys, and now read the national ones too);
2. set ``HUB_CRYPTO_PROFILE=national`` on every node, restarting them one at a
   time: each writes SM4-GCM/HMAC-SM3/SM2 from then on, and reads both;
3. ``exchange-hub keys reencrypt`` moves the rows written before (the workers'
   ``reencrypt.move_rows`` job does the same), with a progress bar.

``keys rotate`` without ``--profile`` gives the current profile a new data key
and moves the rows at once (one node, or nodes restarted after it).
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from exchange_hub import crypto, reencrypt
from exchange_hub.commands import console, fail, open_hub
from exchange_hub.config import Settings
from exchange_hub.context import HubContext
from exchange_hub.records import service as people

IDLE_SECONDS = 60.0


def rotate(
    profile: Annotated[
        str | None,
        typer.Option(help="international | national: add (or renew) that profile's keys"),
    ] = None,
) -> None:
    """Add keys: a new data key of the current profile, moving every row onto it; or, with
    --profile, the keys of a profile to switch to (HUB_CRYPTO_PROFILE), moved later."""
    settings = Settings()
    path = settings.resolved_keys_file
    if not path.exists():
        raise fail(f"{path} does not exist: create a key ring with exchange-hub keys init")
    chosen = profile or settings.crypto_profile
    try:
        kids = crypto.add_profile_keys(path, chosen)
    except crypto.CryptoError as exc:
        raise fail(str(exc)) from exc
    if chosen != settings.crypto_profile:
        added = ", ".join(f"{kind} {kid}" for kind, kid in kids.items())
        console.print(f"{chosen} keys added to {path}: {added}")
        console.print(
            "next: copy the key ring to every node and restart them one at a time; then set "
            f"HUB_CRYPTO_PROFILE={chosen} on every node and restart them one at a time; then "
            "run exchange-hub keys reencrypt (or let the workers run reencrypt.move_rows)"
        )
        return
    console.print(f"new data key {kids['data']} is current")
    with open_hub(settings, people=people) as hub:
        moved = _move_with_progress(hub)
    console.print(
        f"re-encrypted {moved.get('records', 0)} records and "
        f"{moved.get('record_versions', 0)} record versions"
    )


def reencrypt_rows(
    again: Annotated[
        bool, typer.Option("--again", help="a fresh pass even where a table is finished")
    ] = False,
) -> None:
    """Move every row onto the keys this node writes with (HUB_CRYPTO_PROFILE), with a
    progress bar; resumable, and safe while the workers run reencrypt.move_rows too."""
    with open_hub(people=people) as hub:
        if again:
            reencrypt.restart(hub)
        moved = _move_with_progress(hub)
        with hub.sessions() as session:
            tables = reencrypt.progress(session)
    for table in tables:
        state = "finished" if table.finished else "not finished"
        count = moved.get(table.table, 0)
        console.print(
            f"{table.table}: {count} rows moved in this run, {table.passes} passes, {state}"
        )
    console.print(f"every row is on {reencrypt.target_of(hub.keyring)}")


def _move_with_progress(hub: HubContext) -> dict[str, int]:
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())  # fmt: skip
    moved: dict[str, int] = {}
    idle_since = time.monotonic()
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"re-encrypting to {reencrypt.target_of(hub.keyring)}", total=None)
        while True:
            result = reencrypt.run(hub, start=True, seconds=1.0)
            for table, count in result["moved"].items():
                moved[table] = moved.get(table, 0) + count
            if any(result["moved"].values()):
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_SECONDS and not result["finished"]:
                raise fail("no progress for a minute: another worker holds the tables, or a "
                           "node still writes with the old keys (HUB_CRYPTO_PROFILE)")  # fmt: skip
            with hub.sessions() as session:
                tables = reencrypt.progress(session)
            done = sum(t.total if t.finished else t.done for t in tables)
            bar.update(task, total=sum(t.total for t in tables) or 1, completed=done)
            if result["finished"]:
                return moved


def register(app: typer.Typer, keys: typer.Typer) -> None:
    """Add ``keys rotate`` and ``keys reencrypt`` to the ``exchange-hub`` CLI."""
    del app
    keys.command("rotate")(rotate)
    keys.command("reencrypt")(reencrypt_rows)

"""The operator's command line: ``exchange-hub --help``."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from exchange_hub import commands, keys_cli, migrations_util
from exchange_hub import region_codes as catalogue
from exchange_hub.audit import service as audit
from exchange_hub.audit.tasks import MIN_RETENTION_DAYS
from exchange_hub.bulletin import cli as bulletin_cli
from exchange_hub.commands import console, fail
from exchange_hub.config import Settings
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import HubError
from exchange_hub.exchange import cli as exchange_cli
from exchange_hub.holidays import cli as holidays_cli
from exchange_hub.jobs import cli as jobs_cli
from exchange_hub.members import service as members
from exchange_hub.metrics import cli as metrics_cli
from exchange_hub.records import cli as records_cli
from exchange_hub.records import service as records
from exchange_hub.regions import service as regions
from exchange_hub.reports import cli as reports_cli
from exchange_hub.scorecard import cli as scorecard_cli
from exchange_hub.web import cli as web_cli

app = typer.Typer(
    help="exchange-hub: the floating-population data-exchange hub.", no_args_is_help=True
)
members_app = typer.Typer(help="Member systems and their API keys.", no_args_is_help=True)
regions_app = typer.Typer(help="The GB/T 2260 region catalogue.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
keys_app = typer.Typer(
    help="The key ring: data, blind-index, audit and signing keys.", no_args_is_help=True
)
app.add_typer(members_app, name="members")
app.add_typer(regions_app, name="regions")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
for _domain in (
    records_cli,
    exchange_cli,
    jobs_cli,
    bulletin_cli,
    metrics_cli,
    reports_cli,
    scorecard_cli,
    web_cli,
    holidays_cli,
):
    _domain.register(app)
keys_cli.register(app, keys_app)


def open_hub() -> AbstractContextManager[HubContext]:
    """The whole hub: the exchange knows people through the records domain."""
    return commands.open_hub(people=records)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Run the HTTP API with uvicorn."""
    import os
    import tempfile

    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several processes: Prometheus counters are summed through shared files.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hub-prometheus-")
    uvicorn.run(
        "exchange_hub.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        proxy_headers=True,
    )


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest version (alembic upgrade head)."""
    settings = Settings()
    try:
        url = settings.migration_database_url
    except ValueError as exc:
        raise fail(str(exc)) from exc
    migrations_util.upgrade(url)
    console.print("database is at the newest schema")


@app.command()
def demo(
    keys_out: Annotated[Path | None, typer.Option(help="where to write the demo API keys")] = None,
) -> None:
    """Create demo members (and demo traffic, where the hub has it); print their API keys."""
    from exchange_hub.demo import demo_periods, seed_demo

    with open_hub() as hub:
        out = keys_out or hub.settings.data_dir / "demo-keys.json"
        with transaction(hub.sessions) as session:
            keys = seed_demo(session, hub)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(keys, indent=2, ensure_ascii=False))
        out.chmod(0o600)
        # One plain line per member: a table squeezed into the terminal's width (80
        # when piped) cut the keys short with an ellipsis (issue 21).
        for name, key in keys.items():
            console.print(f"{key}  {name}", markup=False, highlight=False)
        console.print(f"demo API keys written to {out}")
        first, last = demo_periods()
        console.print(
            f"demo traffic covers {first} to now; try period={last} (the last full month), "
            f"e.g. /api/v1/metrics/exchange?region=440000&period={last}"
        )


# -- members -------------------------------------------------------------------
@members_app.command("add")
def members_add(
    region: Annotated[str, typer.Option(help="6-digit region code (000000 = nation)")],
    role: Annotated[str, typer.Option(help="county | department | admin")],
    department: Annotated[str | None, typer.Option(help="for department reporters")] = None,
    name: Annotated[str, typer.Option(help="a label for the member system")] = "",
    public_key: Annotated[
        str | None,
        typer.Option(
            help="Ed25519 (base64) or SM2 (04||X||Y hex, or PEM) public key; requests must "
            "then be signed"
        ),
    ] = None,
    person_data: Annotated[bool, typer.Option(help="admins only: may read person data")] = False,
) -> None:
    """Add a member and print its API key (shown once, stored only as a hash)."""
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                issued = members.add_member(
                    session,
                    name=name,
                    role=role,
                    region=region,
                    department=department,
                    public_key=public_key,
                    person_data_grant=person_data,
                )
                audit.record(session, _operator_entry("member.add", str(issued.member.id)))
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
        console.print(f"member {issued.member.id} ({role} {issued.member.region})")
        console.print(f"API key (shown once): {issued.api_key}")


@members_app.command("list")
def members_list() -> None:
    """List every member."""
    with open_hub() as hub:
        with hub.sessions() as session:
            rows = members.list_members(session)
        table = Table("id", "role", "region", "department", "name", "signs", "active")
        for m in rows:
            table.add_row(
                str(m.id), m.role, m.region, m.department or "", m.name,
                "yes" if m.public_key else "", "yes" if m.active else "revoked",
            )  # fmt: skip
        console.print(table)


@members_app.command("revoke")
def members_revoke(member_id: str) -> None:
    """Revoke a member's API key for good."""
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                members.revoke(session, member_id)
                audit.record(session, _operator_entry("member.revoke", member_id))
        except HubError as exc:
            raise fail(exc.detail) from exc
        console.print(f"member {member_id} revoked")


@members_app.command("rotate-key")
def members_rotate_key(member_id: str) -> None:
    """Issue a new API key; the old one stops working at once."""
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                issued = members.rotate_key(session, member_id)
                audit.record(session, _operator_entry("member.rotate_key", member_id))
        except HubError as exc:
            raise fail(exc.detail) from exc
        console.print(f"new API key (shown once): {issued.api_key}")


@members_app.command("set-public-key")
def members_set_public_key(
    member_id: str,
    public_key: Annotated[
        str, typer.Argument(help="Ed25519 (base64) or SM2 (04||X||Y hex, PEM) key; '-' removes")
    ],
) -> None:
    """Require (or stop requiring) signed requests from a member."""
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                members.set_public_key(
                    session, member_id, None if public_key == "-" else public_key
                )
                audit.record(session, _operator_entry("member.set_public_key", member_id))
        except HubError as exc:
            raise fail(exc.detail) from exc
        console.print("public key updated")


def _operator_entry(action: str, object_id: str) -> audit.AuditEntry:
    return audit.AuditEntry(
        action=action, actor="operator:cli", object_type="member", object_id=object_id
    )


# -- regions -------------------------------------------------------------------
@regions_app.command("load")
def regions_load(
    file: Annotated[Path, typer.Argument(help="CSV with columns code,name[,active]", exists=True)],
) -> None:
    """Load a newer list of region codes (adds new codes, renames, marks abolished)."""
    with open_hub() as hub:
        try:
            entries = catalogue.read_catalogue_csv(file)
        except catalogue.CatalogueFileError as exc:
            raise fail(f"{file}: {exc}") from exc
        with transaction(hub.sessions) as session:
            summary = regions.load_entries(session, entries)
            audit.record(
                session,
                audit.AuditEntry(
                    action="regions.load",
                    actor="operator:cli",
                    detail={"file": file.name, "added": summary.added, "updated": summary.updated},
                ),
            )
        console.print(f"{summary.added} regions added, {summary.updated} updated")


@app.command("schemas")
def schemas_command(
    folder: Annotated[Path, typer.Option(help="where the JSON Schema files live")] = Path(
        "schemas"
    ),
    check: Annotated[bool, typer.Option(help="only compare; exit 1 on drift")] = False,
) -> None:
    """Write (or check) the JSON Schema of every API message under schemas/."""
    from exchange_hub import schema_export

    if check:
        stale = schema_export.drift(folder)
        if stale:
            raise fail(
                f"schemas/ is out of date ({', '.join(stale[:10])}); run exchange-hub schemas"
            )
        console.print("schemas/ matches the code")
        return
    console.print(f"{schema_export.write(folder)} schemas written to {folder}")


# -- keys ----------------------------------------------------------------------
@keys_app.command("init")
def keys_init(
    out: Annotated[Path, typer.Option(help="where to write the new key ring (mode 0600)")],
) -> None:
    """Generate a production key ring of HUB_CRYPTO_PROFILE's keys (international or
    national); point HUB_KEYS_FILE at it. Never overwrites: where a ring is already in
    place (another node made it first), it is left as it is."""
    from exchange_hub import crypto

    profile = Settings().crypto_profile
    if not out.exists():
        document = crypto.new_ring_document(profile)
        crypto.write_ring_document(out, document, replace=False)  # the first writer wins
        if crypto.read_ring_document(out) == document:
            console.print(
                f"key ring written to {out}; back it up offline: without it the data cannot be read"
            )
            return
    try:
        crypto.ring_from_document(crypto.read_ring_document(out), profile)
    except (ValueError, crypto.CryptoError) as exc:
        raise fail(f"{out} exists but is not a key ring ({exc}); it was left as it is") from exc
    console.print(
        f"{out} already holds a key ring; nothing was changed (every node uses this one; "
        "exchange-hub keys rotate adds a data key)"
    )


@keys_app.command("public")
def keys_public(
    pem: Annotated[bool, typer.Option("--pem", help="only the key as PEM (SM2 keys)")] = False,
    every: Annotated[
        bool, typer.Option("--all", help="every signing key of the ring (older receipts)")
    ] = False,
) -> None:
    """Print the hub's public signing key (Ed25519, or SM2 in the national profile), which
    members use to check receipts and pushes: JSON with alg, kid and the key."""
    with open_hub() as hub:
        current = hub.keyring.hub_public_key()
        if pem:
            if "pem" not in current:
                raise fail("the current signing key is Ed25519: it has no PEM form here")
            console.print(current["pem"], end="")
            return
        data: Any = hub.keyring.hub_public_keys() if every else current
        console.print_json(data=data)


# -- audit ---------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain; exit 1 if any row was altered or removed."""
    with open_hub() as hub:
        with hub.sessions() as session:
            result = audit.verify_chain(session, hub.keyring)
        if not result.ok:
            raise fail(f"audit chain broken at row {result.first_bad_id}: {result.reason}")
        console.print(f"audit chain intact: {result.checked} rows verified")


@audit_app.command("purge")
def audit_purge(
    older_than_days: Annotated[
        int, typer.Option(help="delete rows older than this (at least 183: six months)")
    ] = 0,
) -> None:
    """Delete audit rows past the retention period; the chain stays verifiable."""
    from datetime import timedelta

    from exchange_hub import clock

    with open_hub() as hub:
        days = older_than_days or hub.settings.audit_retention_days
        if days < MIN_RETENTION_DAYS:
            raise fail(f"access logs must be kept at least six months ({MIN_RETENTION_DAYS} days)")
        with transaction(hub.sessions) as session:
            purged = audit.purge_before(session, clock.now() - timedelta(days=days))
    console.print(f"{purged} audit rows older than {days} days purged")


if __name__ == "__main__":
    app()

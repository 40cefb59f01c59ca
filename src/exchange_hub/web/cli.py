"""Operator commands for console accounts: ``exchange-hub users add | list | unlock | link``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from exchange_hub.commands import console, fail, open_hub
from exchange_hub.db import transaction
from exchange_hub.errors import HubError
from exchange_hub.web import auth, oidc_accounts

users_app = typer.Typer(help="People who sign in to the web console.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this domain's commands (or sub-command groups) to the ``exchange-hub`` CLI."""
    app.add_typer(users_app, name="users")


def _read_password(password_file: Path | None) -> str:
    """From a file (first line, for scripts) or prompted twice without echo."""
    if password_file is not None:
        try:
            lines = password_file.read_text("utf-8").splitlines()
        except OSError as exc:
            raise fail(f"cannot read {password_file}: {exc.strerror}") from exc
        return lines[0] if lines else ""
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Option(help="the sign-in name")],
    role: Annotated[str, typer.Option(help="admin | county")],
    region: Annotated[str, typer.Option(help="6-digit code: the county, or the admin's region")],
    person_data: Annotated[
        bool, typer.Option("--person-data", help="may see person data unmasked (audited)")
    ] = False,
    password_file: Annotated[
        Path | None, typer.Option(help="read the password from this file instead of a prompt")
    ] = None,
) -> None:
    """Create a console account."""
    password = _read_password(password_file)
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                user = auth.add_user(
                    session,
                    username=username,
                    password=password,
                    role=role,
                    region=region,
                    person_data_grant=person_data,
                )
                summary = f"{user.username} ({user.role} {user.region})"
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
    console.print(f"console user {summary} created")


@users_app.command("list")
def users_list() -> None:
    """Show the console accounts and whether they are locked."""
    table = Table(
        "username",
        "role",
        "region",
        "person data",
        "active",
        "last sign-in",
        "locked",
        "identity platform",
    )
    with open_hub() as hub, hub.sessions() as session:
        for user in auth.list_users(session):
            guard = auth.lock_state(session, user.username)
            locked = guard.locked_until.isoformat() if guard and guard.locked_until else ""
            table.add_row(
                user.username,
                user.role,
                user.region,
                "yes" if user.person_data_grant else "no",
                "yes" if user.active else "no",
                user.last_sign_in_at.isoformat() if user.last_sign_in_at else "",
                locked or (f"by {user.locked_by}" if user.locked_by else ""),
                "claims" if user.claims_managed else (user.oidc_subject or ""),
            )
    console.print(table)


@users_app.command("unlock")
def users_unlock(username: Annotated[str, typer.Argument(help="the locked sign-in name")]) -> None:
    """Lift a lock-out before its 15 minutes are over."""
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                auth.unlock(session, username)
        except HubError as exc:
            raise fail(exc.detail) from exc
    console.print(f"{username} unlocked")


@users_app.command("link")
def users_link(
    username: Annotated[str, typer.Option(help="the console account")],
    subject: Annotated[
        str, typer.Option(help="the person's subject (sub) at the unified identity platform")
    ],
) -> None:
    """Let a person sign in through the identity provider (HUB_OIDC_ISSUER) as this account."""
    with open_hub() as hub:
        try:
            with transaction(hub.sessions) as session:
                oidc_accounts.link_subject(session, username=username, subject=subject)
        except HubError as exc:
            raise fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail) from exc
    console.print(f"{username} linked to subject {subject}")

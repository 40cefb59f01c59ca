"""``exchange-hub users add | list | unlock``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange_hub.cli import app
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.web import auth

runner = CliRunner()


@pytest.fixture
def env(hub: HubContext, database_url: str) -> dict[str, str]:
    return {
        "HUB_DATABASE_URL": database_url,
        "HUB_DATA_DIR": str(hub.settings.data_dir),
        "HUB_LOG_JSON": "false",
    }


def test_users_add_with_a_password_file_then_sign_in(
    hub: HubContext, env: dict[str, str], tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("a long enough password\n")
    args = ["users", "add", "--username", "wang", "--role", "admin", "--region", "440000"]
    result = runner.invoke(app, [*args, "--password-file", str(secret), "--person-data"], env=env)
    assert result.exit_code == 0, result.output
    with transaction(hub.sessions) as session:
        user = auth.list_users(session)[0]
        assert (user.username, user.role, user.region, user.person_data_grant) == (
            "wang",
            "admin",
            "440000",
            True,
        )
        assert user.password_hash.startswith("$argon2id$")
        signed = auth.sign_in(
            session, username="wang", password="a long enough password", client=None
        )
        assert isinstance(signed, auth.SignedIn)
    listed = runner.invoke(app, ["users", "list"], env=env)
    assert "wang" in listed.output


def test_users_add_prompts_for_the_password(hub: HubContext, env: dict[str, str]) -> None:
    args = ["users", "add", "--username", "lihua", "--role", "county", "--region", "440305"]
    result = runner.invoke(app, args, env=env, input="password-li-123\npassword-li-123\n")
    assert result.exit_code == 0, result.output
    with hub.sessions() as session:
        assert [u.username for u in auth.list_users(session)] == ["lihua"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--username", "x", "--role", "admin", "--region", "440000"], "username"),
        (["--username", "zhao", "--role", "operator", "--region", "440000"], "role"),
        (["--username", "zhao", "--role", "county", "--region", "440300"], "region"),
        (["--username", "zhao", "--role", "admin", "--region", "440305"], "region"),
        (["--username", "zhao", "--role", "admin", "--region", "99"], "region"),
        (["--username", "zhao", "--role", "admin", "--region", "abc"], "region"),
    ],
)
def test_users_add_refuses_bad_input(
    env: dict[str, str], tmp_path: Path, args: list[str], complaint: str
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("a long enough password")
    result = runner.invoke(app, ["users", "add", *args, "--password-file", str(secret)], env=env)
    assert result.exit_code == 1
    assert complaint in result.output


def test_short_passwords_and_duplicate_names_are_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    short, good = tmp_path / "short", tmp_path / "good"
    short.write_text("short")
    good.write_text("a long enough password")
    base = ["users", "add", "--username", "sun", "--role", "admin", "--region", "000000"]
    result = runner.invoke(app, [*base, "--password-file", str(short)], env=env)
    assert result.exit_code == 1 and "password" in result.output
    assert runner.invoke(app, [*base, "--password-file", str(good)], env=env).exit_code == 0
    again = runner.invoke(app, [*base, "--password-file", str(good)], env=env)
    assert again.exit_code == 1 and "exists" in again.output
    missing = runner.invoke(app, [*base, "--password-file", str(tmp_path / "nope")], env=env)
    assert missing.exit_code == 1


def test_users_unlock(hub: HubContext, env: dict[str, str], tmp_path: Path) -> None:
    with transaction(hub.sessions) as session:
        auth.add_user(
            session,
            username="zhou",
            password="a long enough password",
            role="admin",
            region="440000",
        )
    for _ in range(auth.MAX_FAILURES):
        with transaction(hub.sessions) as session:
            auth.sign_in(session, username="zhou", password="wrong", client=None)
    assert "zhou" in runner.invoke(app, ["users", "list"], env=env).output
    assert runner.invoke(app, ["users", "unlock", "zhou"], env=env).exit_code == 0
    with transaction(hub.sessions) as session:
        signed = auth.sign_in(
            session, username="zhou", password="a long enough password", client=None
        )
        assert isinstance(signed, auth.SignedIn)
    not_locked = runner.invoke(app, ["users", "unlock", "zhou"], env=env)
    assert not_locked.exit_code == 1

"""A live hub for the agent's tests (uvicorn in a subprocess on 127.0.0.1), on SQLite or,
when ``HUB_TEST_DATABASE_URL`` names a server, on a PostgreSQL database of its own; and
the set-up of one county's agent (its key file, signing key and TOML configuration)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from exchange_hub import migrations_util
from exchange_hub.client import Ed25519Signer
from exchange_hub.models import Record, RecordVersion
from tests.fixtures.database import postgres_admin_url
from tests.fixtures.hub import MemberKey
from tests.reliability.harness import HubServer, add_member, create_database, drop_database

CRASHING_AGENT = Path(__file__).with_name("crashing_agent.py")


@contextlib.contextmanager
def live_hub(folder: Path, settings: dict[str, str] | None = None) -> Iterator[HubServer]:
    folder.mkdir(parents=True, exist_ok=True)
    admin = postgres_admin_url()
    if admin:
        url = create_database(admin, prefix="hub_agent")
    else:
        url = f"sqlite:///{folder / 'hub.db'}"
        migrations_util.upgrade(url)
    env = {"HUB_INGEST_WORKERS": "0", **(settings or {})}
    server = HubServer(url, folder, env)
    server.context().dispose()  # the key ring, before the server reads it
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if admin:
            drop_database(url)


@dataclass
class County:
    member: MemberKey
    config: Path
    folder: Path

    @property
    def outbox(self) -> Path:
        return self.folder / "outbox"

    @property
    def sent(self) -> Path:
        return self.folder / "outbox" / "sent"

    @property
    def inbox(self) -> Path:
        return self.folder / "inbox"

    @property
    def answers(self) -> Path:
        return self.folder / "answers"


def county_agent(
    server: HubServer, folder: Path, *, region: str = "110105", signer: Ed25519Signer | None = None,
    key_of: Ed25519Signer | None = None, hub_url: str | None = None, **options: Any,
) -> County:  # fmt: skip
    """A county member (signing with ``signer``'s key if given) and its agent's set-up;
    ``key_of`` puts another key in the agent's key file (a wrong key)."""
    public = signer.public_text() if signer else None
    member = add_member(server, role="county", region=region, public_key=public)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "api-key").write_text(member.api_key + "\n")
    settings: dict[str, Any] = {
        "hub_url": hub_url or server.url, "api_key_file": "api-key", "county": region,
        "folder": ".", "deadline_seconds": 30,
    }  # fmt: skip
    if signer or key_of:
        key = key_of or signer
        assert key is not None
        (folder / "signing.key").write_text(key.private_text())
        settings["signing_key_file"] = "signing.key"
    settings |= options
    lines = [f"{name} = {json.dumps(value)}" for name, value in settings.items()]
    config = folder / "agent.toml"
    config.write_text("\n".join(lines) + "\n")
    for name in ("outbox", "inbox", "answers"):
        (folder / name).mkdir(exist_ok=True)
    return County(member, config, folder)


def run_agent(county: County, *args: str, crash_at: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """The agent as its own process (``crash_at``: SIGKILLed at that point)."""
    command = [sys.executable, str(CRASHING_AGENT), crash_at or "", *args, "--config",
               str(county.config)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def stored(server: HubServer) -> tuple[int, int]:
    """(records, record versions) in the hub's database."""
    context = server.context()
    try:
        with context.sessions() as session:
            records = session.scalar(select(func.count()).select_from(Record)) or 0
            versions = session.scalar(select(func.count()).select_from(RecordVersion)) or 0
        return records, versions
    finally:
        context.dispose()

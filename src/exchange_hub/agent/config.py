"""The agent's configuration: one TOML file per county installation.

    hub_url = "https://hub.example.gov.cn"
    api_key_file = "/etc/exchange-hub-agent/api-key"        # the key, alone in a file
    signing_key_file = "/etc/exchange-hub-agent/signing.key"  # only if the county signs
    county = "110105"
    folder = "/var/lib/exchange-hub-agent"   # outbox/, inbox/, answers/, state.sqlite

Every folder may also be set on its own (``outbox``, ``inbox``, ``answers``,
``state_file``, ``reports``); ``deliver_url`` POSTs pulled items to a local
system instead of writing NDJSON files; ``acknowledge = false`` leaves the receipt
(接收) of pulled notifications to a clerk in the web console (by default the agent
acknowledges each one once it is on disk, ``agent/acknowledge.py``);
``deadline_seconds`` bounds how long one call keeps retrying. Secrets are never in
this file: the key files are read when the agent starts (mode 0600, owned by the
agent's user).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exchange_hub.request_body import COUNTY_CODE


class ConfigError(Exception):
    """The configuration or a file it names cannot be used (exit code 4)."""


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hub_url: str = Field(pattern=r"^https?://[^\s/]+(:[0-9]+)?/?$")
    api_key_file: Path
    signing_key_file: Path | None = None
    county: str = Field(pattern=COUNTY_CODE)
    folder: Path
    outbox: Path | None = None
    inbox: Path | None = None
    answers: Path | None = None
    state_file: Path | None = None
    reports: Path | None = None
    deliver_url: str | None = Field(None, pattern=r"^https?://")
    acknowledge: bool = True
    deadline_seconds: float = Field(600.0, gt=0, le=86_400)
    timeout_seconds: float = Field(300.0, gt=0, le=3_600)

    @property
    def outbox_dir(self) -> Path:
        return self.outbox or self.folder / "outbox"

    @property
    def inbox_dir(self) -> Path:
        return self.inbox or self.folder / "inbox"

    @property
    def answers_dir(self) -> Path:
        return self.answers or self.folder / "answers"

    @property
    def state_path(self) -> Path:
        return self.state_file or self.folder / "state.sqlite"

    @property
    def reports_dir(self) -> Path:
        return self.reports or self.folder / "reports"

    def api_key(self) -> str:
        return _secret(self.api_key_file, "接入密钥文件 api_key_file")

    def make_folders(self) -> None:
        for folder in (self.outbox_dir, self.inbox_dir, self.answers_dir, self.reports_dir,
                       self.state_path.parent):  # fmt: skip
            folder.mkdir(parents=True, exist_ok=True)


def _secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"无法读取{what} {path}：{exc}") from exc
    if not text:
        raise ConfigError(f"{what} {path} 是空的")
    return text


def load(path: Path) -> AgentConfig:
    """The configuration in ``path``; relative paths in it are taken from its folder."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"无法读取配置文件 {path}：{exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"配置文件 {path} 格式有误：{exc}") from exc
    base = path.resolve().parent
    for name in ("api_key_file", "signing_key_file", "folder", "outbox", "inbox", "answers",
                 "state_file", "reports"):  # fmt: skip
        if isinstance(raw.get(name), str):
            raw[name] = base / raw[name]
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"配置文件 {path} 中 {where} 有误：{first['msg']}") from None

"""``exchange-hub-agent``: a county's scheduled job in one command (see ``agent/run.py``).

    exchange-hub-agent keygen --out /etc/exchange-hub-agent/signing.key   # prints the public key
    exchange-hub-agent --config /etc/exchange-hub-agent/agent.toml run    # push, pull, answer
    exchange-hub-agent --config agent.toml push | pull | answer           # one step

The configuration is a TOML file (``agent/config.py``); ``--config`` defaults to
``agent.toml`` in the working folder. Exit codes: ``run.EXIT_CODES``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from exchange_hub.agent import config as agent_config
from exchange_hub.agent.config import ConfigError
from exchange_hub.agent.run import SETUP, Agent, Report
from exchange_hub.client import Ed25519Signer, SM2Signer

app = typer.Typer(
    help="交换平台区县同步程序：推送登记文件、拉取待办与变更、发送反馈。\n\n"
    "退出码：0 完成；1 部分行或反馈被拒收（见 outbox/sent、outbox/refused、answers/sent）；"
    "2 无法连接平台；3 平台拒绝了本机（密钥、签名或权限）；4 配置或本地文件有误。",
    no_args_is_help=True, add_completion=False,
)  # fmt: skip
out = Console(soft_wrap=True, highlight=False)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="配置文件 (TOML)")]
JsonOption = Annotated[bool, typer.Option("--json", help="同时打印 JSON 报告")]


def _run(config_path: Path, steps: list[str], as_json: bool) -> None:
    try:
        config = agent_config.load(config_path)
        agent = Agent.open(config)
    except ConfigError as exc:
        out.print(f"配置有误：{exc}（退出码 {SETUP}）", markup=False)
        raise typer.Exit(SETUP) from exc
    try:
        report: Report = agent.run(steps)
    finally:
        agent.close()
    out.print(report.summary, markup=False)
    if as_json:
        out.print(report.as_json().decode(), markup=False)
    raise typer.Exit(report.exit_code)


@app.command()
def run(config: ConfigOption = Path("agent.toml"), as_json: JsonOption = False) -> None:
    """推送、拉取并接收、反馈（定时任务每晚调用）。"""
    _run(config, ["push", "pull", "answer"], as_json)


@app.command()
def push(config: ConfigOption = Path("agent.toml"), as_json: JsonOption = False) -> None:
    """把待发送文件夹（outbox）中的文件推送到平台。"""
    _run(config, ["push"], as_json)


@app.command()
def pull(config: ConfigOption = Path("agent.toml"), as_json: JsonOption = False) -> None:
    """拉取新的待办和变更，写入 inbox 文件夹（或发送到本地地址），并接收（签收）其中的通报。"""
    _run(config, ["pull"], as_json)


@app.command()
def answer(config: ConfigOption = Path("agent.toml"), as_json: JsonOption = False) -> None:
    """把 answers 文件夹中填好的反馈表发送到平台。"""
    _run(config, ["answer"], as_json)


@app.command()
def keygen(
    key_out: Annotated[Path, typer.Option("--out", help="私钥文件（只有本机用户可读）")],
    sm2: Annotated[
        bool, typer.Option("--sm2", help="生成 SM2 密钥（平台采用国密算法时），默认 Ed25519")
    ] = False,
) -> None:
    """生成签名密钥：私钥写入文件，打印公钥（交平台管理员登记）。"""
    if key_out.exists():
        out.print(f"{key_out} 已存在，不会覆盖", markup=False)
        raise typer.Exit(SETUP)
    signer: Ed25519Signer | SM2Signer = SM2Signer.generate() if sm2 else Ed25519Signer.generate()
    key_out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(signer.private_text() + "\n")
    out.print(signer.public_text(), markup=False)

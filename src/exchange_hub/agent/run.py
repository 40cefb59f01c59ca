"""One night's work (``agent run``): push, then pull (and acknowledge), then answer; one report.

Exit codes a scheduler can alert on (``EXIT_CODES``):

    0  done: every line and answer accepted
    1  done, but some lines, answers or receipts were refused (see the rejected files
       and the report's ``pull.receipts.dropped``; a withdrawn message is not a refusal)
    2  the hub (or the local delivery URL) could not be reached before the deadline
    3  the hub refused the agent itself (key, signature, scope): fix the set-up
    4  the configuration, a key file or a local folder cannot be used

Each run prints one line in Chinese and writes its JSON report to
``reports/run-<time>.json`` and ``reports/last-run.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from exchange_hub import clock
from exchange_hub.agent import acknowledge, answer, pull, push
from exchange_hub.agent.config import AgentConfig, ConfigError
from exchange_hub.agent.files import atomic_write
from exchange_hub.agent.state_repository import State
from exchange_hub.client import (
    HubClient,
    HubClientError,
    HubRefused,
    HubUnreachable,
    RateLimitedError,
    RetryPolicy,
    UnavailableError,
    load_signer,
)

DONE, REJECTED, UNREACHABLE, REFUSED, SETUP = 0, 1, 2, 3, 4
EXIT_CODES = {
    DONE: "完成", REJECTED: "部分行被拒收", UNREACHABLE: "无法连接平台",
    REFUSED: "平台拒绝了本机（密钥、签名或权限）", SETUP: "配置或本地文件有误",
}  # fmt: skip


@dataclass
class Report:
    started_at: str
    steps: list[str]
    finished_at: str | None = None
    exit_code: int = DONE
    outcome: str = ""
    push: dict[str, Any] | None = None
    pull: dict[str, Any] | None = None
    answer: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    summary: str = ""

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode()


@dataclass
class Agent:
    config: AgentConfig
    client: HubClient
    state: State
    reports: list[Report] = field(default_factory=list)

    @classmethod
    def open(cls, config: AgentConfig, retry: RetryPolicy | None = None) -> Agent:
        config.make_folders()
        signer = None
        if config.signing_key_file is not None:
            try:
                signer = load_signer(config.signing_key_file)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"签名私钥文件 {config.signing_key_file} 无法使用：{exc}"
                ) from exc
        retry = retry or RetryPolicy(deadline=config.deadline_seconds)
        client = HubClient(config.hub_url, config.api_key(), signer=signer, retry=retry,
                           timeout=config.timeout_seconds)  # fmt: skip
        return cls(config, client, State(config.state_path))

    def close(self) -> None:
        self.client.close()
        self.state.close()

    # -- the steps ------------------------------------------------------------------------
    def push(self, report: Report) -> None:
        outcome = push.push_outbox(self.client, self.state, self.config.outbox_dir)
        refused = sum(1 for f in outcome.files if f.refused)
        report.push = {"accepted": outcome.accepted, "rejected": outcome.rejected - refused,
                       "refused_files": refused,
                       "files": [asdict(f) for f in outcome.files]}  # fmt: skip
        if outcome.rejected:
            report.exit_code = max(report.exit_code, REJECTED)

    def pull(self, report: Report) -> None:
        sink = pull.Sink(self.state, self.config.inbox_dir, self.config.deliver_url)
        on = self.config.acknowledge
        pulled = report.pull = asdict(pull.pull(self.client, self.state, sink, acknowledge=on))
        if on:
            self.acknowledge(report, pulled)

    def acknowledge(self, report: Report, pulled: dict[str, Any]) -> None:
        """The receipts of what was pulled (counted in the report even when the hub goes
        away half-way: those sent are settled, the rest wait for the next run)."""
        outcome = acknowledge.ReceiptOutcome()
        try:
            acknowledge.acknowledge_pending(self.client, self.state, outcome)
        finally:
            pulled["receipts"] = asdict(outcome)
        if outcome.refused:
            report.exit_code = max(report.exit_code, REJECTED)

    def answer(self, report: Report) -> None:
        outcome = answer.answer_folder(self.client, self.config.answers_dir)
        report.answer = asdict(outcome)
        if outcome.refused:
            report.exit_code = max(report.exit_code, REJECTED)

    def run(self, steps: list[str]) -> Report:
        report = Report(started_at=clock.now().isoformat(), steps=steps)
        actions: dict[str, Callable[[Report], None]] = {
            "push": self.push, "pull": self.pull, "answer": self.answer,
        }  # fmt: skip
        try:
            for step in steps:
                actions[step](report)
        except HubClientError as exc:
            report.exit_code = _code_of(exc)
            report.error = _error_of(exc)
        except (OSError, ConfigError) as exc:
            report.exit_code, report.error = SETUP, {"message": str(exc)}
        return self.finish(report)

    def finish(self, report: Report) -> Report:
        report.finished_at = clock.now().isoformat()
        report.outcome = EXIT_CODES[report.exit_code]
        report.summary = summary_line(report)
        stamp = clock.now().astimezone(clock.SHANGHAI).strftime("%Y%m%dT%H%M%S")
        for name in (f"run-{stamp}.json", "last-run.json"):
            atomic_write(self.config.reports_dir / name, report.as_json())
        return report


def _code_of(exc: HubClientError) -> int:
    if isinstance(exc, HubUnreachable | UnavailableError | RateLimitedError):
        return UNREACHABLE
    if isinstance(exc, HubRefused):
        return REFUSED
    return SETUP  # a local file the client could not send (InvalidRequestError and the like)


def _error_of(exc: HubClientError) -> dict[str, Any]:
    error: dict[str, Any] = {"message": str(exc), "message_zh": exc.message_zh,
                             "message_en": exc.message_en}  # fmt: skip
    if isinstance(exc, HubRefused):
        error["problem"] = exc.raw or exc.problem.model_dump()
    return error


def summary_line(report: Report) -> str:
    parts = []
    if report.push is not None:
        whole = report.push["refused_files"]
        parts.append(f"推送 {len(report.push['files'])} 个文件（收下 {report.push['accepted']} 行，"
                     f"拒收 {report.push['rejected']} 行"
                     + (f"，{whole} 个文件整个被拒，见 outbox/refused/" if whole else "")
                     + "）")  # fmt: skip
    if report.pull is not None:
        parts.append(f"拉取待办 {report.pull['inbox_items']} 条、变更 {report.pull['changes']} 条")
        if (r := report.pull.get("receipts")) is not None:
            parts.append(f"接收 {r['acknowledged']} 条（已接收过 {r['already']} 条，"
                         f"已撤回 {r['withdrawn']} 条，被拒 {r['refused']} 条）")  # fmt: skip
    if report.answer is not None:
        a = report.answer
        parts.append(f"反馈 {a['sent']} 条（已反馈过 {a['already']} 条，被拒 {a['refused']} 条）")
    line = "；".join(parts) or "未做任何事"
    line += f"。结果：{report.outcome}（退出码 {report.exit_code}）"
    if report.error:
        line += f"：{report.error['message']}"
    return line

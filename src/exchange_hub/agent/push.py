"""``agent push``: every new file of the outbox to the hub's batch endpoint.

For each file (oldest first; ``.ndjson``, ``.jsonl``, ``.csv``, ``.xlsx``; names
starting with ``.`` or ``~$`` — Excel's lock files — and ``.tmp``/``.part`` files
are left alone): upload it with an ``Idempotency-Key`` derived from its content,
save the hub's answer in the state file, write the report and the rejected
lines into ``sent/``, and only then move the file there (a file the hub refuses
whole goes to ``refused/`` with the reason, and the others go on). A crash at any point is
safe to rerun: before the answer is saved the same key gets the first run's
answer from the hub (nothing lands twice); after, the answer is taken from the
state file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange_hub import clock
from exchange_hub.agent import faults
from exchange_hub.agent.files import atomic_write, fsync_folder, rejected_files
from exchange_hub.agent.state_repository import State
from exchange_hub.client import (
    BadRequestError,
    HubClient,
    HubRefused,
    PayloadTooLargeError,
    UnsupportedMediaError,
    batch_key,
    media_type_of,
)
from exchange_hub.client.transport import Upload

PUSHED_SUFFIXES = frozenset({".ndjson", ".jsonl", ".csv", ".xlsx"})
# Refusals of a file as a whole (400, 422: not a workbook, an unknown column; 413; 415).
FILE_REFUSALS = (BadRequestError, PayloadTooLargeError, UnsupportedMediaError)


@dataclass
class FileOutcome:
    name: str
    lines: int
    accepted: int
    rejected: int
    rejected_listed: int
    sent_as: str
    report: str
    rejected_files: list[str] = field(default_factory=list)
    replayed: bool = False
    refused: str | None = None  # why the hub refused the whole file (then in refused/)


@dataclass
class PushOutcome:
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)


def waiting_files(outbox: Path) -> list[Path]:
    """The files to push, oldest first (then by name)."""
    found = [
        path for path in outbox.iterdir()
        if path.is_file() and path.suffix.lower() in PUSHED_SUFFIXES
        and not path.name.startswith((".", "~$"))
    ]  # fmt: skip
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def push_outbox(client: HubClient, state: State, outbox: Path) -> PushOutcome:
    outcome = PushOutcome()
    sent, refused = outbox / "sent", outbox / "refused"
    sent.mkdir(parents=True, exist_ok=True)
    for path in waiting_files(outbox):
        try:
            outcome.files.append(push_file(client, state, path, sent))
        except FILE_REFUSALS as exc:  # the file as a whole (not a line of it): set it aside
            outcome.files.append(set_aside(path, refused, exc))
    return outcome


def set_aside(path: Path, refused: Path, exc: HubRefused) -> FileOutcome:
    """A file the hub refused whole (not a workbook, an unknown column, too large) goes to
    ``refused/`` with the reason, so the other files and the next nights go on."""
    refused.mkdir(parents=True, exist_ok=True)
    target = _free_name(refused, path.name)
    report = target.with_name(target.name + ".report.json")
    document = {"file": path.name, "reported_at": clock.now().isoformat(),
                "note": f"整个文件被拒收：{exc.message_zh}", "problem": exc.raw}  # fmt: skip
    atomic_write(report, json.dumps(document, ensure_ascii=False, indent=2).encode())
    os.replace(path, target)
    fsync_folder(refused)
    return FileOutcome(name=path.name, lines=0, accepted=0, rejected=1, rejected_listed=0,
                       sent_as=str(target), report=str(report), refused=exc.message_zh)  # fmt: skip


def push_file(client: HubClient, state: State, path: Path, sent: Path) -> FileOutcome:
    upload = Upload.of(path)
    answer = state.pushed(upload.digest)
    replayed = answer is not None
    if answer is None:
        media_type = media_type_of(path)
        result = client.push_batch(
            path, media_type=media_type, idempotency_key=batch_key(media_type, upload.digest),
            progress=lambda done: _uploading(done, upload.size),
        )  # fmt: skip
        answer = result.model_dump(mode="json")
        faults.checkpoint("after_upload")
        state.remember_push(upload.digest, path.name, answer)
        faults.checkpoint("after_answer_saved")
    target = _free_name(sent, path.name)
    report = _write_report(path, target, answer, upload.digest)
    encoding = answer.get("encoding", "utf-8")
    extra = rejected_files(path, answer["rejected"], sent, encoding, stem=target.stem)
    os.replace(path, target)
    fsync_folder(sent)
    return FileOutcome(
        name=path.name, lines=answer["lines"], accepted=answer["accepted"],
        rejected=answer["rejected_count"], rejected_listed=len(answer["rejected"]),
        sent_as=str(target), report=str(report), rejected_files=[str(p) for p in extra],
        replayed=replayed,
    )  # fmt: skip


def _uploading(done: int, size: int) -> None:
    if done < size:  # at least one chunk sent, more to come
        faults.checkpoint("during_upload")


def _free_name(folder: Path, name: str) -> Path:
    """``sent/NAME``, or ``sent/STEM.2.SUFFIX`` … when a file of that name was sent before."""
    target = folder / name
    number = 1
    while target.exists():
        number += 1
        target = folder / f"{Path(name).stem}.{number}{Path(name).suffix}"
    return target


def _write_report(path: Path, target: Path, answer: dict[str, Any], digest: str) -> Path:
    report = target.with_name(target.name + ".report.json")
    document = {
        "file": path.name, "sent_as": target.name, "sha256": digest,
        "reported_at": clock.now().isoformat(), "hub": answer,
        "note": _note(answer),
    }  # fmt: skip
    atomic_write(report, json.dumps(document, ensure_ascii=False, indent=2).encode())
    return report


def _note(answer: dict[str, Any]) -> str:
    if not answer["rejected_count"]:
        return f"全部 {answer['accepted']} 行已收下"
    note = (
        f"收下 {answer['accepted']} 行，拒收 {answer['rejected_count']} 行：改正 *.rejected.* "
        "文件中的行后放回待发送文件夹即可（已收下的行不会重复）"
    )
    if answer.get("rejected_truncated"):
        note += f"；平台只列出了前 {len(answer['rejected'])} 行被拒收的行"
    return note

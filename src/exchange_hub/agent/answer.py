"""``agent answer``: feedback (反馈) to queries, from a CSV or XLSX a clerk filled in.

Files in ``answers/`` (``.csv`` in UTF-8 or GBK, ``.xlsx``: the first sheet), a
header row and one answer per row; each column by its name or its Chinese label:

    message_id  消息编号   the query's id (from the inbox files, or the console)
    result      反馈结果   found 查到 | found_inactive 已注销 | not_found 查无此人 |
                           mismatch 信息不符 | multiple_candidates 多人
    note        备注
    candidates  人数       for multiple_candidates
    field, recorded, reported   差异字段, 登记为, 实为   for mismatch (one difference)

``agent pull`` writes ``inbox/待反馈.xlsx`` in this layout (with the query's subject,
purpose and deadline beside it): fill 反馈结果 and drop it here; rows left empty are
skipped. Each answer is sent with the key ``feedback-<message id>``: sending a file again
(after a crash) is answered from the first time. A file is then moved to
``answers/sent/`` with its report, and the rows the hub refused, with the reason,
in ``<name>.refused.csv`` to fix and drop back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange_hub import clock
from exchange_hub.agent.files import (
    REASON_HEADER,
    atomic_write,
    csv_bytes,
    fsync_folder,
    table_rows,
)
from exchange_hub.client import ConflictError, HubClient, HubRefused, InvalidRequestError

COLUMNS = {
    "message_id": "消息编号", "result": "反馈结果", "note": "备注", "candidates": "人数",
    "field": "差异字段", "recorded": "登记为", "reported": "实为",
}  # fmt: skip
COLUMN_OF_LABEL = {label: name for name, label in COLUMNS.items()}
RESULTS = {"查到": "found", "已注销": "found_inactive", "查无此人": "not_found",
           "信息不符": "mismatch", "多人": "multiple_candidates"}  # fmt: skip
ANSWER_SUFFIXES = frozenset({".csv", ".xlsx"})


@dataclass
class AnswerOutcome:
    sent: int = 0
    already: int = 0
    refused: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)


def answer_folder(client: HubClient, folder: Path) -> AnswerOutcome:
    outcome = AnswerOutcome()
    done = folder / "sent"
    done.mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in folder.iterdir() if p.is_file()
                       and p.suffix.lower() in ANSWER_SUFFIXES
                       and not p.name.startswith((".", "~$"))):  # fmt: skip
        outcome.files.append(answer_file(client, path, done, outcome))
    return outcome


def answer_file(client: HubClient, path: Path, done: Path, outcome: AnswerOutcome
                ) -> dict[str, Any]:  # fmt: skip
    rows = list(table_rows(path))
    header = [_column(cell) for cell in rows[0][1]] if rows else []
    refused: list[list[Any]] = []
    counts = {"sent": 0, "already": 0, "refused": 0}
    for number, cells in rows[1:]:
        values = {name: cells[i] for i, name in enumerate(header) if name and i < len(cells)}
        if values.get("result") in (None, ""):
            continue  # not answered yet (a row of 待反馈.xlsx left for later)
        verdict, reason = _send(client, values)
        counts[verdict] += 1
        if verdict == "refused":
            refused.append([number, reason[0], reason[1]])
    outcome.sent += counts["sent"]
    outcome.already += counts["already"]
    outcome.refused += counts["refused"]
    report = {"file": path.name, "reported_at": clock.now().isoformat(), **counts,
              "refused_rows": [dict(zip(("line", "field", "detail"), r, strict=True))
                               for r in refused]}  # fmt: skip
    target = done / path.name
    atomic_write(target.with_name(path.name + ".report.json"),
                 json.dumps(report, ensure_ascii=False, indent=2).encode())  # fmt: skip
    if refused:
        atomic_write(done / f"{path.stem}.refused.csv", csv_bytes([REASON_HEADER, *refused]))
    os.replace(path, target)
    fsync_folder(done)
    return report


def _column(cell: Any) -> str | None:
    text = str(cell or "").strip().lstrip("\ufeff")
    name = COLUMN_OF_LABEL.get(text, text.lower())
    return name if name in COLUMNS else None


def _feedback(values: dict[str, Any]) -> dict[str, Any]:
    result = str(values.get("result") or "").strip()
    body: dict[str, Any] = {"result": RESULTS.get(result, result)}
    if values.get("note") not in (None, ""):
        body["note"] = str(values["note"]).strip()
    if values.get("candidates") not in (None, ""):
        body["candidates"] = int(float(str(values["candidates"])))
    if values.get("field") not in (None, ""):
        body["differences"] = [{
            "field": str(values["field"]).strip(),
            **{k: str(values[k]).strip() for k in ("recorded", "reported")
               if values.get(k) not in (None, "")},
        }]  # fmt: skip
    return body


def _send(client: HubClient, values: dict[str, Any]) -> tuple[str, tuple[str, str]]:
    message_id = str(values.get("message_id") or "").strip()
    if not message_id:
        return "refused", ("message_id", "消息编号为空")
    try:
        client.answer(message_id, _feedback(values))
    except ValueError:
        return "refused", ("candidates", "人数应为整数")
    except InvalidRequestError as exc:
        return "refused", (exc.field, exc.detail)
    except ConflictError as exc:
        if "answered" in exc.detail or "already" in exc.detail:
            return "already", ("", "")
        return "refused", (exc.field or "state", exc.detail)
    except HubRefused as exc:
        if exc.status in (401, 403, 429) or (exc.status or 0) >= 500:
            raise  # the whole run stops: not this row's fault
        if exc.field == "Idempotency-Key":  # this message was answered before, otherwise
            return "refused", ("result", "此消息已反馈过（内容不同）；平台只收第一次的反馈")
        return "refused", (exc.field or "body", exc.detail)
    return "sent", ("", "")

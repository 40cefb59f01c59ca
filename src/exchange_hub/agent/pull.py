"""``agent pull``: new inbox items and changes, written exactly once.

To files (the default): ``inbox/inbox-YYYY-MM-DD.ndjson`` (by the day a message
was submitted) and ``inbox/changes-YYYY-MM-DD.ndjson`` (by the day of the
change), Asia/Shanghai dates, one JSON object per line as the hub's schemas
write them. A page is appended and fsynced, then the new file lengths, the
cursor and the inbox items seen are committed in one SQLite transaction
(``state_repository.py``); before each pull the files are cut back to their committed
lengths, so a crash between the two steps neither loses nor repeats an item.
The items among them that still need a receipt are entered as receipts to send in
that same transaction (``acknowledge``, on by default), and sent after the pull
(``agent/acknowledge.py``).

To a local system (``deliver_url``): each page is POSTed as
``{"kind": "changes"|"inbox", "items": [...]}`` with an ``Idempotency-Key``
naming the page (``changes-<first seq>-<last seq>``, ``inbox-<sha256 of the ids>``);
the cursor moves only after a 2xx. A crash after the POST sends the same page
with the same key again: exactly once for a receiver that keeps the key.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from pydantic import BaseModel

from exchange_hub import clock
from exchange_hub.agent import faults
from exchange_hub.agent.state_repository import State
from exchange_hub.client import HubClient, HubUnreachable
from exchange_hub.exchange.schemas import InboxItem

FEED = "changes"


@dataclass
class PullOutcome:
    inbox_items: int = 0
    changes: int = 0
    cursor: str | None = None


class Sink:
    """Where pulled items go: appended NDJSON files, or a local URL."""

    def __init__(self, state: State, folder: Path, deliver_url: str | None = None) -> None:
        self.state, self.folder, self.deliver_url = state, folder, deliver_url

    def deliver(
        self, kind: str, items: Sequence[BaseModel], day_of: Callable[[BaseModel], datetime],
        key: str, cursor: tuple[str, str] | None = None, seen: Sequence[str] = (),
        receipts: Sequence[str] = (),
    ) -> None:  # fmt: skip
        lengths: dict[Path, int] = {}
        if self.deliver_url:
            self._post(kind, items, key)
        else:
            lengths = self._append(kind, items, day_of)
        faults.checkpoint("after_pull_write")
        faults.checkpoint(f"after_{kind}_write")  # the inbox items on disk, neither seen nor due
        self.state.commit_outputs(lengths, cursor=cursor, seen=seen, receipts=receipts)
        faults.checkpoint("after_cursor_saved")

    def _append(
        self, kind: str, items: Sequence[BaseModel], day_of: Callable[[BaseModel], datetime]
    ) -> dict[Path, int]:
        by_file: dict[Path, list[bytes]] = defaultdict(list)
        for item in items:
            day = day_of(item).astimezone(clock.SHANGHAI).date()
            by_file[self.folder / f"{kind}-{day.isoformat()}.ndjson"].append(
                item.model_dump_json().encode() + b"\n"
            )
        self.state.register(by_file)
        lengths = {}
        for path, lines in by_file.items():
            with path.open("ab") as out:
                out.write(b"".join(lines))
                out.flush()
                os.fsync(out.fileno())
                lengths[path] = out.tell()
        return lengths

    def _post(self, kind: str, items: Sequence[BaseModel], key: str) -> None:
        body = b'{"kind": "%s", "items": [%s]}' % (
            kind.encode(),
            b",".join(i.model_dump_json().encode() for i in items),
        )
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        assert self.deliver_url is not None
        try:
            response = httpx.post(self.deliver_url, content=body, headers=headers, timeout=60)
        except httpx.TransportError as exc:
            raise HubUnreachable(self.deliver_url, f"{type(exc).__name__}: {exc}", 1) from exc
        if not response.is_success:
            raise HubUnreachable(self.deliver_url, f"answered {response.status_code}", 1)


def pull(
    client: HubClient, state: State, sink: Sink, *, page_size: int = 500, acknowledge: bool = True
) -> PullOutcome:
    """The change feed from the saved cursor to its end, then the inbox's new items; with
    ``acknowledge``, every item written that still needs a receipt is left to send."""
    state.recover()
    outcome = PullOutcome(cursor=state.cursor(FEED))
    while True:
        page = client.changes_page(outcome.cursor, limit=page_size)
        if not page.items:
            break
        key = f"changes-{page.items[0].seq}-{page.items[-1].seq}"
        sink.deliver("changes", page.items, lambda c: c.at, key,  # type: ignore[attr-defined]
                     cursor=(FEED, page.next_cursor))  # fmt: skip
        outcome.changes += len(page.items)
        outcome.cursor = page.next_cursor
    pages = _inbox_pages(client, page_size)
    if not sink.deliver_url:  # a local system that takes the items answers on its own
        write_answer_sheet(sink.folder, [item for page in pages for item in page])
    for inbox_page in pages:
        fresh_ids = state.unseen(str(item.id) for item in inbox_page)
        fresh = [item for item in inbox_page if str(item.id) in fresh_ids]
        if not fresh:
            continue
        ids = sorted(str(item.id) for item in fresh)
        key = "inbox-" + hashlib.sha256(",".join(ids).encode()).hexdigest()[:32]
        receipts = _awaiting_receipt(fresh) if acknowledge else []
        sink.deliver("inbox", fresh, lambda m: m.submitted_at, key,  # type: ignore[attr-defined]
                     seen=ids, receipts=receipts)  # fmt: skip
        outcome.inbox_items += len(fresh)
    if acknowledge:  # and those written before (by an agent that did not acknowledge yet)
        state.await_receipts(_awaiting_receipt([item for page in pages for item in page]))
    return outcome


def _awaiting_receipt(items: Sequence[InboxItem]) -> list[str]:
    """The items the hub says are still to acknowledge: notifications not yet received
    (a query takes no receipt, SPEC §4; answering it records the receipt)."""
    return [str(item.id) for item in items if item.needs_receipt]


ANSWER_SHEET = "待反馈.xlsx"
SHEET_HEADER = ["消息编号", "反馈结果", "备注", "人数", "差异字段", "登记为", "实为",
                "公民身份号码", "姓名", "协查用途", "发出地区", "截止时间", "状态"]  # fmt: skip


def write_answer_sheet(folder: Path, items: Sequence[InboxItem]) -> None:
    """``inbox/待反馈.xlsx``: every query still to answer, one row each, the answer columns
    empty. The clerk fills 反馈结果 (查到, 已注销, 查无此人, 信息不符 with 差异字段/登记为/实为,
    多人 with 人数) and drops the file into ``answers/`` (``agent/answer.py``); rows left
    empty are skipped there. Rewritten whole by every pull."""
    from exchange_hub.agent.files import atomic_write, xlsx_bytes

    rows: list[list[object]] = [list(SHEET_HEADER)]
    for item in items:
        if not item.needs_feedback:
            continue
        subject = item.content.get("subject") or {}
        deadline = item.deadline.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")
        rows.append([str(item.id), None, None, None, None, None, None,
                     subject.get("id_number"), subject.get("name"), item.purpose,
                     item.from_region, deadline, item.state])  # fmt: skip
    atomic_write(folder / ANSWER_SHEET, xlsx_bytes({"待反馈": rows}))


def _inbox_pages(client: HubClient, page_size: int) -> list[list[InboxItem]]:
    """The whole inbox (arrival order), read before anything is written."""
    pages: list[list[InboxItem]] = []
    cursor = None
    while True:
        page = client.inbox_page(cursor=cursor, order="arrival", limit=page_size)
        pages.append(list(page.items))
        if not page.next_cursor:
            return pages
        cursor = page.next_cursor

"""The agent's own memory: a small SQLite file (``state.sqlite``).

- ``cursors``: the change-feed position (``next_cursor`` of the last page written).
- ``outputs``: each NDJSON file the agent appends to, with its *committed* length.
  Items are appended and fsynced first; the new lengths and the cursor are then
  committed in one transaction. A crash in between leaves bytes past the
  committed length, which ``recover`` cuts off before the next pull fetches the
  same page again: every item lands exactly once.
- ``seen``: inbox items already written (the inbox lists an item until it is
  answered, night after night).
- ``pushed``: the hub's answer for each file pushed (by content digest), saved
  before the file is moved to ``sent/``: a rerun after a crash there finishes the
  move without asking the hub again.
- ``receipts``: inbox items to acknowledge (接收), entered in the same transaction
  that marks them seen, so an item on disk is acknowledged even when the agent dies
  before it gets to it; ``outcome`` stays NULL until the hub's answer is settled
  (``acknowledged``, ``already``, ``withdrawn``, ``refused``), and a settled item is
  never sent again (``agent/acknowledge.py``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outputs (path TEXT PRIMARY KEY, length INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS pushed (digest TEXT PRIMARY KEY, name TEXT NOT NULL,
                                   answer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS receipts (message_id TEXT PRIMARY KEY, outcome TEXT);
"""


class State:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)  # explicit transactions below
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed cursor survives a power cut
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- the change feed ----------------------------------------------------------------
    def cursor(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    # -- appended outputs ---------------------------------------------------------------
    def recover(self) -> None:
        """Cut every output back to its committed length (what a crash left past it).
        A file shorter than recorded was moved or emptied by its reader: start anew."""
        for path_text, length in self.db.execute("SELECT path, length FROM outputs").fetchall():
            path = Path(path_text)
            size = path.stat().st_size if path.exists() else 0
            if size > length:
                with path.open("r+b") as file:
                    file.truncate(length)
                    os.fsync(file.fileno())
            elif size < length:
                with self.transaction() as db:
                    db.execute("UPDATE outputs SET length = ? WHERE path = ?", (size, path_text))

    def register(self, paths: Iterable[Path]) -> None:
        """Record the outputs about to be appended to, at their present length."""
        with self.transaction() as db:
            for path in paths:
                size = path.stat().st_size if path.exists() else 0
                db.execute("INSERT OR IGNORE INTO outputs VALUES (?, ?)", (str(path), size))

    def commit_outputs(
        self, lengths: dict[Path, int], *, cursor: tuple[str, str] | None = None,
        seen: Iterable[str] = (), receipts: Iterable[str] = (),
    ) -> None:  # fmt: skip
        """One transaction: the outputs' new lengths, the cursor, the inbox items now
        written (``seen``) and those of them still to acknowledge (``receipts``)."""
        with self.transaction() as db:
            for path, length in lengths.items():
                db.execute("UPDATE outputs SET length = ? WHERE path = ?", (length, str(path)))
            if cursor is not None:
                db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", cursor)
            db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", [(s,) for s in seen])
            _await_receipts(db, receipts)

    def commit_cursor(self, name: str, value: str, seen: Iterable[str] = ()) -> None:
        self.commit_outputs({}, cursor=(name, value), seen=seen)

    def unseen(self, message_ids: Iterable[str]) -> set[str]:
        ids = list(message_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        known = self.db.execute(f"SELECT message_id FROM seen WHERE message_id IN ({marks})", ids)
        return set(ids) - {row[0] for row in known}

    # -- receipts to send ------------------------------------------------------------------
    def await_receipts(self, message_ids: Iterable[str]) -> None:
        """Items already written that still need a receipt; one settled stays settled."""
        with self.transaction() as db:
            _await_receipts(db, message_ids)

    def pending_receipts(self) -> list[str]:
        rows = self.db.execute("SELECT message_id FROM receipts WHERE outcome IS NULL "
                               "ORDER BY rowid").fetchall()  # fmt: skip
        return [str(row[0]) for row in rows]

    def settle_receipt(self, message_id: str, outcome: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE receipts SET outcome = ? WHERE message_id = ?",
                       (outcome, message_id))  # fmt: skip

    # -- pushed files ---------------------------------------------------------------------
    def pushed(self, digest: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT answer FROM pushed WHERE digest = ?", (digest,)).fetchone()
        return json.loads(row[0]) if row else None

    def remember_push(self, digest: str, name: str, answer: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO pushed VALUES (?, ?, ?)",
                       (digest, name, json.dumps(answer, ensure_ascii=False)))  # fmt: skip


def _await_receipts(db: sqlite3.Connection, message_ids: Iterable[str]) -> None:
    db.executemany("INSERT OR IGNORE INTO receipts VALUES (?, NULL)", [(m,) for m in message_ids])

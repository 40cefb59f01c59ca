"""Writing a batch's checked chunks, without the ORM.

Per chunk (``records/checking.py`` checked it, in a worker process or here):
one query finds the county's active records among the chunk's people (by
blind index); new people are inserted (their rows arrive already encoded for
binary COPY on PostgreSQL, as column tuples for SQLite), changed ones are
archived and overwritten, identical re-pushes are left alone. A person twice
in one chunk splits it, so the second line updates what the first created.

Change-feed rows are appended once at the end, under the feed lock
(``changes.lock_feed``), by one INSERT … SELECT over the rows the batch wrote
(they all carry the batch's timestamp and actor): a batch of a million rows
neither holds the feed lock for its whole run nor keeps a million pending
changes in memory, and the feed still follows commit order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub import changes, clock
from exchange_hub.exchange import hooks
from exchange_hub.records import checking, repository, values

REJECTED_LISTED_MAX = 1_000
"""Rejected lines listed in a batch's answer; the count goes on."""


@dataclass
class Tally:
    """A batch's counts and its first rejected lines (``REJECTED_LISTED_MAX``)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    lines: int = 0
    rejected_count: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, field_name: str, detail: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < REJECTED_LISTED_MAX:
            self.rejected.append({"line": line, "field": field_name, "detail": detail})

    def result(self, format_kind: str, encoding: str) -> dict[str, Any]:
        return {
            "accepted": self.created + self.updated + self.unchanged,
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "rejected": self.rejected, "rejected_count": self.rejected_count,
            "rejected_truncated": self.rejected_count > len(self.rejected),
            "lines": self.lines, "format": format_kind, "encoding": encoding,
        }  # fmt: skip


class BulkWriter:
    """Writes checked chunks in order, each in the batch's transaction."""

    def __init__(self, session: Session, ctx: values.WriteContext, tally: Tally) -> None:
        self.session, self.ctx, self.tally = session, ctx, tally
        self.caller, self.keyring = ctx.caller, ctx.keyring
        self.batch_at = clock.now()  # every row of the batch carries it: see ``finish``
        self.copy_form = session.get_bind().dialect.name == "postgresql"
        self.inflows_notified = False  # messages whose change-feed rows ``finish`` appends

    def take(self, task: checking.Task, checked: checking.Checked) -> None:
        for number, field_name, detail in checked.rejections:
            self.tally.reject(number, field_name, detail)
        for part in _parts(checked):
            self._write_part(task, checked, part)
        self.tally.lines = max(self.tally.lines, checked.last_line)

    def _write_part(self, task: checking.Task, checked: checking.Checked, part: range) -> None:
        existing = repository.active_in_chunk(
            self.session,
            self.caller.region,
            ((checked.kinds[i], index) for i in part for index in checked.id_indexes[i]),
        )
        new: list[int] = []
        changed: list[tuple[int, Any]] = []
        for i in part:
            found = _existing_of(existing, checked.kinds[i], checked.id_indexes[i])
            if found is None:
                new.append(i)
            elif found.content_index in checked.contents[i]:
                self.tally.unchanged += 1
            else:
                changed.append((checked.lines[i], found.id))
        if changed:
            self._update(task, changed)
        if new:
            self._insert(checked, new)

    def _insert(self, checked: checking.Checked, new: list[int]) -> None:
        rows = [checked.rows[i] for i in new]
        if self.copy_form:
            repository.copy_encoded(
                self.session, repository.RECORDS, repository.RECORD_COLUMNS, rows
            )
        else:
            named = [dict(zip(repository.RECORD_COLUMNS, row, strict=True)) for row in rows]
            repository.bulk_insert(
                self.session, repository.RECORDS, repository.RECORD_COLUMNS, named
            )
        self.tally.created += len(rows)
        inflows = [SimpleNamespace(**checked.inflows[i]) for i in new if i in checked.inflows]
        if inflows:
            hooks.inflows_registered(
                self.session, self.caller, inflows, now=self.batch_at, feed_later=True
            )
            self.inflows_notified = True

    def _update(self, task: checking.Task, changed: list[tuple[int, Any]]) -> None:
        """Re-pushes that change a record: checked once more here for their columns
        (workers return new rows only in stored form), archived, overwritten."""
        items = dict(task.items())
        whole = {r.id: r for r in repository.rows_by_id(self.session, [i for _, i in changed])}
        archived, updates = [], []
        for line, record_id in changed:
            prepared = checking.check_item(self.ctx, items[line], task.fmt)
            if isinstance(prepared, checking.Rejection):  # it passed the same checks in the worker
                raise RuntimeError(f"line {line} checked differently twice: {prepared.detail}")
            found = whole[record_id]
            archived.append(self._version_row(found))
            updates.append(self._updated_row(found, prepared.columns))
        repository.bulk_insert(
            self.session, repository.VERSIONS, repository.VERSION_COLUMNS, archived
        )
        repository.update_rows(self.session, updates)
        self.tally.updated += len(updates)

    def _updated_row(self, found: Any, columns: dict[str, Any]) -> dict[str, Any]:
        return {
            **columns, "id": found.id, "version": found.version + 1,
            "version_action": "updated", "updated_at": self.batch_at,
            "updated_by": self.caller.label,
        }  # fmt: skip

    def _version_row(self, found: Any) -> dict[str, Any]:
        return {
            "record_id": found.id, "version": found.version, "action": found.version_action,
            "at": found.updated_at, "actor": found.updated_by,
            "data_key_id": self.keyring.current_data_key,
            "snapshot": values.snapshot(self.keyring, values.read_form(self.keyring, found)),
        }  # fmt: skip

    def finish(self) -> None:
        """Append the batch's change-feed rows."""
        if self.tally.created or self.tally.updated:
            changes.lock_feed(self.session)
            repository.append_batch_changes(
                self.session, county=self.caller.region, at=self.batch_at, actor=self.caller.label
            )
        if self.inflows_notified:
            hooks.append_inflow_changes(self.session, self.caller, at=self.batch_at)


def _parts(checked: checking.Checked) -> Iterator[range]:
    """The chunk's rows in runs where no person (kind, ID number) comes twice."""
    start = 0
    seen: set[tuple[str, str]] = set()
    for i, (kind, indexes) in enumerate(zip(checked.kinds, checked.id_indexes, strict=True)):
        key = (kind, indexes[0])
        if key in seen:
            yield range(start, i)
            start, seen = i, set()
        seen.add(key)
    if start < len(checked.kinds):
        yield range(start, len(checked.kinds))


def _existing_of(existing: dict[tuple[str, str], Any], kind: str, indexes: list[str]) -> Any:
    for index in indexes:
        if (kind, index) in existing:
            return existing[(kind, index)]
    return None

"""Writing a batch's checked rows in chunks, without the ORM.

Per chunk: one query finds the county's active records among the chunk's
people (by blind index), then new people are inserted (binary COPY or
executemany), changed ones are archived and overwritten, identical re-pushes
are left alone. A person twice in one chunk closes the chunk first, so the
second line updates what the first created.

Change-feed rows are appended once at the end, under the feed lock
(``changes.lock_feed``), by one INSERT … SELECT over the rows the batch wrote
(they all carry the batch's timestamp and actor): a batch of a million rows
neither holds the feed lock for its whole run nor keeps a million pending
changes in memory, and the feed still follows commit order.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from exchange_hub import changes
from exchange_hub.crypto import KeyRing, random_bytes
from exchange_hub.exchange import hooks
from exchange_hub.members.scope import Caller
from exchange_hub.models.base import utcnow
from exchange_hub.records import repository, values

if TYPE_CHECKING:
    from exchange_hub.records.batch import Tally


class BulkWriter:
    """Collects checked rows into chunks and writes each chunk from one writer thread.

    While the writer thread waits on the database for chunk k, the caller's
    thread checks and encrypts chunk k+1 (the waits release the GIL). Only the
    writer thread touches the session until ``finish``; at most one chunk is in
    flight, so memory stays bounded, and chunks are written in order, so a
    person repeated in a later chunk finds the row an earlier one wrote.
    """

    def __init__(self, session: Session, caller: Caller, keyring: KeyRing, tally: Tally) -> None:
        self.session, self.caller, self.keyring, self.tally = session, caller, keyring, tally
        self._chunk: dict[tuple[str, str], values.Prepared] = {}
        self.batch_at = utcnow()  # every row of the batch carries it: see ``finish``
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="records-bulk")
        self._in_flight: Future[None] | None = None
        self.inflows_notified = False  # messages whose change-feed rows ``finish`` appends
        self._created: dict[str, Any] | None = None

    @property
    def pending(self) -> int:
        return len(self._chunk)

    def add(self, prepared: values.Prepared) -> None:
        key = (prepared.columns["kind"], prepared.columns["id_index"])
        if key in self._chunk:
            self.flush()
        self._chunk[key] = prepared

    def flush(self) -> None:
        """Hand the current chunk to the writer thread (after the previous one is written)."""
        chunk, self._chunk = list(self._chunk.values()), {}
        self._wait()
        if chunk:
            self._in_flight = self._thread.submit(self._write_chunk, chunk)

    def _wait(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()  # re-raises what the writer thread raised

    def _write_chunk(self, chunk: list[values.Prepared]) -> None:
        existing = repository.active_in_chunk(
            self.session,
            self.caller.region,
            ((p.columns["kind"], index) for p in chunk for index in p.id_indexes),
        )
        now = self.batch_at
        inserts: list[dict[str, Any]] = []
        changed: list[tuple[Any, dict[str, Any]]] = []
        for prepared in chunk:
            found = _existing_of(existing, prepared)
            if found is None:
                inserts.append(self._new_row(prepared.columns, now))
            elif found.content_index == prepared.columns["content_index"]:
                self.tally.unchanged += 1
            else:
                changed.append((found.id, prepared.columns))
        whole = {r.id: r for r in repository.rows_by_id(self.session, [i for i, _ in changed])}
        archived = [self._version_row(whole[i]) for i, _ in changed]
        updates = [self._updated_row(whole[i], columns, now) for i, columns in changed]
        self._write(inserts, updates, archived)

    def _write(
        self, inserts: list[dict[str, Any]], updates: list[dict[str, Any]],
        archived: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        repository.bulk_insert(
            self.session, repository.VERSIONS, repository.VERSION_COLUMNS, archived
        )
        repository.update_rows(self.session, updates)
        repository.bulk_insert(self.session, repository.RECORDS, repository.RECORD_COLUMNS, inserts)
        self.tally.created += len(inserts)
        self.tally.updated += len(updates)
        inflows = [SimpleNamespace(**row) for row in inserts if row["kind"] == "inflow"]
        if inflows:
            hooks.inflows_registered(
                self.session, self.caller, inflows, now=self.batch_at, feed_later=True
            )
            self.inflows_notified = True

    def _new_row(self, columns: dict[str, Any], now: datetime) -> dict[str, Any]:
        if self._created is None:  # what every new row of the batch shares
            self._created = {
                **dict.fromkeys(repository.RECORD_COLUMNS), "status": "active",
                "member_id": self.caller.member_id, "version": 1, "version_action": "created",
                "created_at": now, "updated_at": now, "updated_by": self.caller.label,
            }  # fmt: skip
        row = {**self._created, **columns}
        row["id"] = uuid.UUID(bytes=random_bytes(16), version=4)
        return row

    def _updated_row(self, found: Any, columns: dict[str, Any], now: datetime) -> dict[str, Any]:
        return {
            **columns, "id": found.id, "version": found.version + 1,
            "version_action": "updated", "updated_at": now, "updated_by": self.caller.label,
        }  # fmt: skip

    def _version_row(self, found: Any) -> dict[str, Any]:
        return {
            "record_id": found.id, "version": found.version, "action": found.version_action,
            "at": found.updated_at, "actor": found.updated_by,
            "data_key_id": self.keyring.current_data_key,
            "snapshot": values.snapshot(self.keyring, values.read_form(self.keyring, found)),
        }  # fmt: skip

    def finish(self) -> None:
        """Write the last chunk, then append the batch's change-feed rows."""
        self.flush()
        self._wait()
        if self.tally.created or self.tally.updated:
            changes.lock_feed(self.session)
            repository.append_batch_changes(
                self.session, county=self.caller.region, at=self.batch_at, actor=self.caller.label
            )
        if self.inflows_notified:
            hooks.append_inflow_changes(self.session, self.caller, at=self.batch_at)

    def close(self) -> None:
        """Release the writer thread (also after a failure)."""
        try:
            self._wait()
        except Exception:
            pass
        finally:
            self._thread.shutdown(wait=True)


def _existing_of(existing: dict[tuple[str, str], Any], prepared: values.Prepared) -> Any:
    kind = prepared.columns["kind"]
    for index in prepared.id_indexes:
        if (kind, index) in existing:
            return existing[(kind, index)]
    return None

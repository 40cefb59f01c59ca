"""Writing a batch's checked rows in chunks, without the ORM.

Per chunk: one query finds the county's active records among the chunk's
people (by blind index), then new people are inserted (binary COPY or
executemany), changed ones are archived and overwritten, identical re-pushes
are left alone. A person twice in one chunk closes the chunk first, so the
second line updates what the first created.

Change-feed rows are spooled to a temporary file and appended once at the
end under the feed lock (``changes.lock_feed``), so a batch of a million rows
neither holds the feed lock for its whole run nor keeps a million pending
changes in memory; their order still follows commit order.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.orm import Session

from exchange_hub import changes
from exchange_hub.crypto import KeyRing
from exchange_hub.exchange import hooks
from exchange_hub.members.scope import Caller
from exchange_hub.models import Record
from exchange_hub.models.base import utcnow
from exchange_hub.records import repository, values

if TYPE_CHECKING:
    from exchange_hub.records.batch import Tally

_CHANGE_SPOOL_BYTES = 4 << 20


class BulkWriter:
    def __init__(self, session: Session, caller: Caller, keyring: KeyRing, tally: Tally) -> None:
        self.session, self.caller, self.keyring, self.tally = session, caller, keyring, tally
        self._chunk: dict[tuple[str, str], values.Prepared] = {}
        self._changes = tempfile.SpooledTemporaryFile(max_size=_CHANGE_SPOOL_BYTES)  # noqa: SIM115

    @property
    def pending(self) -> int:
        return len(self._chunk)

    def add(self, prepared: values.Prepared) -> None:
        key = (prepared.columns["kind"], prepared.columns["id_index"])
        if key in self._chunk:
            self.flush()
        self._chunk[key] = prepared

    def flush(self) -> None:
        chunk, self._chunk = list(self._chunk.values()), {}
        if not chunk:
            return
        existing = repository.active_in_chunk(
            self.session,
            self.caller.region,
            ((p.columns["kind"], index) for p in chunk for index in p.id_indexes),
        )
        now = utcnow()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        archived: list[dict[str, Any]] = []
        for prepared in chunk:
            found = _existing_of(existing, prepared)
            if found is None:
                inserts.append(self._new_row(prepared.columns, now))
            elif found.content_index == prepared.columns["content_index"]:
                self.tally.unchanged += 1
            else:
                archived.append(self._version_row(found))
                updates.append(self._updated_row(found, prepared.columns, now))
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
        for row in inserts:
            self._spool_change(row, "created")
        for row in updates:
            self._spool_change(row, "updated")
        for row in inserts:
            if row["kind"] == "inflow":
                # The hook receives a transient Record carrying the inserted row's values.
                hooks.inflow_registered(self.session, self.caller, Record(**row))

    def _new_row(self, columns: dict[str, Any], now: datetime) -> dict[str, Any]:
        row = dict.fromkeys(repository.RECORD_COLUMNS)
        row.update(columns)
        row.update(
            id=uuid.uuid4(), status="active", member_id=self.caller.member_id, version=1,
            version_action="created", created_at=now, updated_at=now, updated_by=self.caller.label,
        )  # fmt: skip
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

    def _spool_change(self, row: dict[str, Any], action: str) -> None:
        entry = [str(row["id"]), action, row["registering_region"], row["other_region"],
                 row["kind"], row["version"]]  # fmt: skip
        self._changes.write(orjson.dumps(entry) + b"\n")

    def finish(self) -> None:
        """Write the last chunk, then append the spooled change-feed rows."""
        self.flush()
        self._changes.seek(0)
        at = utcnow()
        batch: list[dict[str, Any]] = []
        locked = False
        for line in self._changes:
            if not locked:
                changes.lock_feed(self.session)
                locked = True
            batch.append(_change_row(orjson.loads(line), at))
            if len(batch) >= 5_000:
                self._append_changes(batch)
                batch = []
        self._append_changes(batch)

    def close(self) -> None:
        self._changes.close()

    def _append_changes(self, rows: list[dict[str, Any]]) -> None:
        repository.bulk_insert(self.session, repository.CHANGES, repository.CHANGE_COLUMNS, rows)


def _existing_of(existing: dict[tuple[str, str], Any], prepared: values.Prepared) -> Any:
    kind = prepared.columns["kind"]
    for index in prepared.id_indexes:
        if (kind, index) in existing:
            return existing[(kind, index)]
    return None


def _change_row(entry: list[Any], at: datetime) -> dict[str, Any]:
    record_id, action, region_a, region_b, kind, version = entry
    if region_b == region_a:
        region_b = None
    return {
        "at": at, "object_type": "record", "object_id": record_id, "action": action,
        "region_a": region_a, "region_b": region_b,
        "summary": {"kind": kind, "version": version},
    }  # fmt: skip

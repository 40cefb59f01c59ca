"""Checking a batch's lines in worker processes, chunk by chunk.

Validating, checking, encrypting and indexing a record is pure CPU work
(~20 µs of Python per record); one interpreter checks about 50,000 records
a second at best while the database could take more. A batch therefore hands
its lines in chunks (about 1 MiB each) to a pool of processes
(``HUB_INGEST_WORKERS``, default one per CPU but one), which return each good row
ready to store: for PostgreSQL already in binary ``COPY`` form, so the
request's own thread only looks re-pushes up and streams bytes to the
database. The same function runs in the request's thread for small batches
or when the pool is switched off, so both paths check exactly alike.

What a worker holds: the data and index keys (not the hub's signing or audit
keys), the ID policy, today's date, the region catalogue and the caller —
handed over per batch as one pickled ``Setup``, cached by its token. Workers
are started with ``spawn`` (no copy of the server's threads or connections)
and exit when the hub process that started them is gone.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any

import uuid_utils
import uuid_utils.compat
from psycopg import adapt, postgres
from psycopg._copy_base import format_row_binary  # psycopg's C row encoder (see _Encoder)
from psycopg.pq import Format
from pydantic import ValidationError

from exchange_hub import jsonbody
from exchange_hub.crypto import KeyRing
from exchange_hub.errors import HubError
from exchange_hub.records import values
from exchange_hub.records.schemas import RecordIn
from exchange_hub.scope import Caller

log = logging.getLogger("exchange_hub.records.checking")

MAX_LINE_BYTES = 65_536
# The columns a CSV batch may have, and where each goes in a record (refusals name the column).
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "kind": ("kind",),
    **{name: ("person", name) for name in (
        "id_number", "name", "sex", "birth_date", "ethnicity", "marital_status", "phone",
        "address", "children_count", "contraception", "pregnancy_status", "last_birth_date",
    )},
    "hukou_region": ("hukou_region",),
    "residence_region": ("residence_region",),
    "moved_on": ("moved_on",),
    "certificate_checked": ("certificate_checked",),
    "certificate_number": ("certificate", "number"),
    "certificate_issued_by": ("certificate", "issued_by"),
    "certificate_issued_on": ("certificate", "issued_on"),
    "certificate_valid_until": ("certificate", "valid_until"),
}  # fmt: skip
BOOLEAN_COLUMNS = frozenset({"certificate_checked"})  # text cells say true/false, 是/否
CSV_COLUMN_OF_PATH = {".".join(path): column for column, path in CSV_COLUMNS.items()}
# The Chinese label of each column: a header row (CSV or XLSX) may use either.
COLUMN_LABELS: dict[str, str] = {
    "kind": "登记类别", "id_number": "公民身份号码", "name": "姓名", "sex": "性别",
    "birth_date": "出生日期", "ethnicity": "民族", "marital_status": "婚姻状况",
    "phone": "联系电话", "address": "现住址", "children_count": "子女数",
    "contraception": "避孕措施", "pregnancy_status": "孕情", "last_birth_date": "末次生育日期",
    "hukou_region": "户籍地", "residence_region": "现居住地", "moved_on": "流动日期",
    "certificate_checked": "婚育证明已查验", "certificate_number": "婚育证明编号",
    "certificate_issued_by": "发证机关", "certificate_issued_on": "发证日期",
    "certificate_valid_until": "婚育证明有效期至",
}  # fmt: skip
COLUMN_OF_LABEL = {label: column for column, label in COLUMN_LABELS.items()}


# -- what is checked ---------------------------------------------------------------
@dataclass(frozen=True)
class Rejection:
    field: str
    detail: str


@dataclass
class Setup:
    """Everything a worker needs to check one batch's lines (pickled once per batch)."""

    caller: Caller
    data_keys: dict[str, bytes]
    current_data_key: str
    index_keys: dict[str, bytes]
    key_algs: dict[str, str]  # the national profile's keys (KeyRing.key_algs)
    current_index_key: str
    policy: str
    today: date
    regions: dict[str, tuple[str, bool]]
    batch_at: datetime
    columns: tuple[str, ...]  # of the records table, in order
    copy_types: tuple[str, ...] | None  # their PostgreSQL types: rows as binary COPY bytes;
    # None: rows as column tuples (SQLite)

    @classmethod
    def of(
        cls, ctx: values.WriteContext, *, batch_at: datetime, columns: tuple[str, ...],
        copy_types: tuple[str, ...] | None,
    ) -> Setup:  # fmt: skip
        ring = ctx.keyring
        return cls(
            caller=ctx.caller, data_keys=dict(ring.data_keys),
            current_data_key=ring.current_data_key, index_keys=dict(ring.index_keys),
            current_index_key=ring.current_index_key, key_algs=dict(ring.key_algs),
            policy=ctx.policy, today=ctx.today,
            regions=ctx.regions.whole(), batch_at=batch_at, columns=columns,
            copy_types=copy_types,
        )  # fmt: skip

    def context(self) -> values.WriteContext:
        ring = KeyRing(
            data_keys=self.data_keys, current_data_key=self.current_data_key,
            index_keys=self.index_keys, current_index_key=self.current_index_key,
            audit_key=("", b""), signing_key=("", None),  # type: ignore[arg-type]  # not held here
            key_algs=self.key_algs,
        )  # fmt: skip
        regions = values.RegionBook.complete(self.regions)
        return values.WriteContext(self.caller, ring, self.policy, self.today, regions)


@dataclass
class Checked:
    """A checked chunk: its good rows ready to store, and its rejections.

    Row ``i`` is ``kinds[i]``/``id_indexes[i]`` (every index form, the current
    key's first), ``contents[i]`` (every form of the content index, the same
    way, to tell an identical re-push), ``rows[i]`` (binary COPY bytes or a column tuple) from
    ``lines[i]``; ``inflows`` holds the whole row of each new inflow (the
    exchange notifies its origin).
    """

    lines: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    id_indexes: list[list[str]] = field(default_factory=list)
    contents: list[list[str]] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)
    inflows: dict[int, dict[str, Any]] = field(default_factory=dict)
    rejections: list[tuple[int, str, str]] = field(default_factory=list)
    last_line: int = 0


# -- one line ------------------------------------------------------------------------
def check_item(
    ctx: values.WriteContext, item: bytes | dict[str, Any] | Rejection, kind: str
) -> Any:
    """A ``values.Prepared`` for a good line, else a ``Rejection`` naming the field."""
    if isinstance(item, Rejection):
        return item
    try:
        if isinstance(item, bytes | bytearray):
            jsonbody.check_depth(item, what="the line")  # the hub's one nesting limit
            return values.prepare(ctx, RecordIn.model_validate_json(item))
        # A CSV row: text by nature, each cell read as the field's type ("2", "true", a date).
        return values.prepare(ctx, RecordIn.model_validate_strings(item))
    except ValidationError as exc:
        return _rejection_of(exc.errors(include_url=False)[0], kind)
    except HubError as exc:
        field_name = exc.field or "body"
        if kind != "ndjson":  # a table (CSV, XLSX): refusals name its columns
            field_name = CSV_COLUMN_OF_PATH.get(field_name, field_name)
        return Rejection(field_name, exc.detail)
    except Exception as exc:  # a fault of the hub's checks must not fail the whole batch
        # Only the exception's type: its message may quote the person's data.
        log.error("a batch line could not be checked: %s", type(exc).__name__)
        return Rejection("body", "the hub could not check this line; it was not stored")


def _rejection_of(error: Any, kind: str) -> Rejection:
    if error["type"] == "json_invalid":
        return Rejection("body", f"the line is not valid JSON (or not UTF-8): {error['msg']}")
    if error["type"] == "model_type" and not error["loc"]:
        return Rejection("body", "each line must be one JSON object (a record)")
    path = ".".join(str(p) for p in error["loc"]) or "body"
    if kind != "ndjson":
        path = CSV_COLUMN_OF_PATH.get(path, path)
    return Rejection(path, error["msg"])


def too_long() -> Rejection:
    return Rejection("body", f"the line is longer than {MAX_LINE_BYTES} bytes")


# -- one chunk -----------------------------------------------------------------------
class _Encoder:
    """New rows in their stored form: every column, a new time-ordered id, and for
    PostgreSQL the row encoded for binary COPY (psycopg's own encoder, the one
    ``Copy.write_row`` uses, with the column types fixed up front)."""

    def __init__(self, setup: Setup) -> None:
        caller = setup.caller
        self.template = {
            **dict.fromkeys(setup.columns), "status": "active",
            "member_id": caller.member_id, "version": 1, "version_action": "created",
            "created_at": setup.batch_at, "updated_at": setup.batch_at,
            "updated_by": caller.label,
        }  # fmt: skip
        self.ordered = itemgetter(*setup.columns)
        self.copy_form = setup.copy_types is not None
        if setup.copy_types is not None:
            self.transformer = adapt.Transformer()
            oids = [postgres.types[name].oid for name in setup.copy_types]
            self.transformer.set_dumper_types(oids, Format.BINARY)

    def row(self, columns: dict[str, Any]) -> dict[str, Any]:
        row = self.template | columns
        # A time-ordered id: new rows append at the primary key's right edge.
        row["id"] = uuid_utils.uuid7() if self.copy_form else uuid_utils.compat.uuid7()
        return row

    def stored(self, row: dict[str, Any]) -> Any:
        ordered = self.ordered(row)
        if not self.copy_form:
            return ordered
        out = bytearray()
        format_row_binary(ordered, self.transformer, out)
        return bytes(out)


def check_chunk(ctx: values.WriteContext, encoder: _Encoder, task: Task) -> Checked:
    checked = Checked()
    for number, item in task.items():
        checked.last_line = number
        prepared = check_item(ctx, item, task.fmt)
        if isinstance(prepared, Rejection):
            checked.rejections.append((number, prepared.field, prepared.detail))
            continue
        columns = prepared.columns
        row = encoder.row(columns)
        if columns["kind"] == "inflow":  # for the exchange, with a standard-library id
            checked.inflows[len(checked.rows)] = {**row, "id": uuid.UUID(bytes=row["id"].bytes)}
        checked.lines.append(number)
        checked.kinds.append(columns["kind"])
        checked.id_indexes.append(_current_first(prepared))
        checked.contents.append(prepared.content_indexes)
        checked.rows.append(encoder.stored(row))
    checked.last_line = max(checked.last_line, task.last_line)
    return checked


def _current_first(prepared: values.Prepared) -> list[str]:
    current = prepared.columns["id_index"]
    return [current, *(i for i in prepared.id_indexes if i != current)]


@dataclass
class Task:
    """A chunk of a batch: NDJSON lines as they came (``blob``, from line
    ``first_line``), or items already parsed (CSV rows, a line refused whole)."""

    fmt: str  # the batch's format, "ndjson" | "csv" | "xlsx" (names the fields of refusals)
    first_line: int
    last_line: int
    blob: bytes | None = None
    parsed: list[tuple[int, bytes | dict[str, Any] | Rejection]] = field(default_factory=list)

    def items(self) -> Iterator[tuple[int, bytes | dict[str, Any] | Rejection]]:
        if self.blob is None:
            yield from self.parsed
            return
        for offset, line in enumerate(self.blob.split(b"\n")):
            if len(line) > MAX_LINE_BYTES:
                yield self.first_line + offset, too_long()
            elif line.strip():
                yield self.first_line + offset, line


# -- the worker side ---------------------------------------------------------------
_cached: tuple[str, values.WriteContext, _Encoder] | None = None


def _work(token: str, setup_blob: bytes, task: Task) -> Checked:
    """In a worker: the batch's context (built once per batch), then the chunk."""
    global _cached
    if _cached is None or _cached[0] != token:
        setup: Setup = pickle.loads(setup_blob)
        _cached = (token, setup.context(), _Encoder(setup))
    _, ctx, encoder = _cached
    return check_chunk(ctx, encoder, task)


def _started(parent: int) -> None:
    """Worker initialiser: leave when the hub process is gone (even if it was SIGKILLed)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ready() -> int:
    return os.getpid()


# -- the hub side --------------------------------------------------------------------
class Checker:
    """Hands a batch's chunks to the pool (or checks them here), results in order."""

    def __init__(self, ctx: values.WriteContext, setup: Setup, pool: Executor | None) -> None:
        self.pool = pool
        self.token = uuid.uuid4().hex
        self.setup_blob = pickle.dumps(setup, protocol=pickle.HIGHEST_PROTOCOL)
        self.local = (ctx, _Encoder(setup))

    def submit(self, task: Task) -> Future[Checked]:
        if self.pool is not None:
            return self.pool.submit(_work, self.token, self.setup_blob, task)
        done: Future[Checked] = Future()
        done.set_result(check_chunk(*self.local, task))
        return done


_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_readiness: list[Future[int]] = []  # the pool's first task per worker, done once it runs


def worker_count(setting: int | None) -> int:
    """``HUB_INGEST_WORKERS``; unset: one per CPU but one (the server's own thread and
    the database need a core while the workers check); 0: check in the request's thread.

    Measured on 2 cores (bench/ingest.py): one worker 28,900 records/s, two 30,400,
    three 31,300 — the request's thread and its database connection, writing in
    order, set the pace — while each worker holds ~55-70 MB."""
    if setting is None:
        return max((os.cpu_count() or 1) - 1, 1)
    return max(setting, 0)


def pool(workers: int) -> ProcessPoolExecutor | None:
    """The process pool (started on first use, kept for the life of the process)."""
    global _pool, _pool_size
    if workers <= 0:
        return None
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(
                workers, mp_context=context, initializer=_started, initargs=(os.getpid(),)
            )
            _pool_size = workers
            with _main_module_hidden():  # every worker starts now, importing only what it needs
                _readiness[:] = [_pool.submit(_ready) for _ in range(workers)]
        return _pool


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start processes without re-running the server's main module in them.

    ``spawn`` re-imports the parent's ``__main__`` in each child: for the
    ``exchange-hub`` command that is the whole CLI and web app (~130 MB per
    worker), although a worker needs only this module. Without a module spec
    or file on ``__main__`` (for the instant the processes are created), the
    children skip that step.
    """
    main = sys.modules["__main__"]
    spec, file = getattr(main, "__spec__", None), main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__spec__ = spec
        if file is not None:
            main.__file__ = file


def warm(workers: int, *, timeout: float = 120.0) -> None:
    """Start the pool's processes now and wait until each answers (the hub's start-up),
    so that the first batch does not wait for them to import the hub's modules."""
    started = pool(workers)
    if started is not None:
        wait(list(_readiness), timeout=timeout)


def discard(broken: Executor | None) -> None:
    """Forget a pool whose worker died (the next batch starts a new one)."""
    global _pool
    with _pool_lock:
        if broken is not None and broken is _pool:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


@atexit.register
def _shutdown() -> None:
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)

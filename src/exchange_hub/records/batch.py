"""Batches of records: NDJSON, CSV or XLSX, streamed, checked line by line, bulk-written.

The body is spooled to a temporary file while it is hashed (constant memory,
and the digest serves the deferred signature check and the idempotency key),
then read back line by line. Good rows land in chunks; each bad row is
reported with its 1-based line number, the field and the reason. Line numbers
are physical lines of the file: in CSV the header is line 1, so the first data
row is line 2; blank lines count but are skipped.

Encodings: NDJSON is UTF-8 (RFC 8259), with or without a BOM. CSV is UTF-8
(with or without BOM) or, from older county systems, GBK/GB 18030: the first
64 KiB decide, or a ``charset`` parameter of the Content-Type says so. A body
in neither is refused (415); a stray undecodable line is rejected on its own.
XLSX workbooks are read by ``records/tabular.py`` (first sheet, header row as CSV).
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from exchange_hub.audit import service as audit
from exchange_hub.errors import Unavailable, UnsupportedMediaType
from exchange_hub.records import checking, repository, service, tabular
from exchange_hub.records.bulk import BulkWriter, Tally
from exchange_hub.records.checking import MAX_LINE_BYTES, Rejection, Task
from exchange_hub.records.schemas import BatchResult
from exchange_hub.scope import Caller

BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 65_536
CHUNK_BYTES = 1 << 20  # NDJSON handed to a worker at a time (≈ 2,000 records)
CSV_CHUNK_ROWS = 2_000
PARALLEL_MIN_BYTES = 1 << 20  # smaller batches are checked in the request's thread
CHUNK_TIMEOUT_SECONDS = 300.0  # a chunk takes well under a second; a hung worker fails the batch
MEDIA_TYPES = {"application/x-ndjson": "ndjson", "application/jsonl": "ndjson",
               "application/json-seq": "ndjson", "text/csv": "csv",
               tabular.XLSX_MEDIA_TYPE: "xlsx"}  # fmt: skip
ACCEPTED = ["application/x-ndjson", "text/csv", tabular.XLSX_MEDIA_TYPE]
GBK_NAMES = {"gbk", "gb2312", "gb18030", "cp936"}


# -- the body ------------------------------------------------------------------
@dataclass(frozen=True)
class BodyFormat:
    kind: str  # "ndjson" | "csv" | "xlsx"
    charset: str | None


def body_format(content_type: str | None) -> BodyFormat:
    """NDJSON, CSV or XLSX from the Content-Type (415 for anything else)."""
    media, _, params = (content_type or "").partition(";")
    kind = MEDIA_TYPES.get(media.strip().lower())
    if kind is None:
        raise UnsupportedMediaType(
            "send NDJSON (application/x-ndjson), CSV (text/csv) or XLSX "
            f"({tabular.XLSX_MEDIA_TYPE})",
            field="Content-Type", extra={"accepted": ACCEPTED},
        )  # fmt: skip
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or None
    return BodyFormat(kind, charset)


@dataclass
class SpooledBody:
    file: IO[bytes]
    digest: str
    size: int


async def spool(chunks: AsyncIterator[bytes]) -> SpooledBody:
    """Copy the body to a temporary file (in memory up to 1 MiB), hashing it on the way."""
    hasher = hashlib.sha256()
    file = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - closed by the caller
    size = 0
    async for chunk in chunks:
        hasher.update(chunk)
        file.write(chunk)
        size += len(chunk)
    file.seek(0)
    return SpooledBody(file, hasher.hexdigest(), size)


def sniff_encoding(source: IO[bytes], fmt: BodyFormat) -> str:
    """``utf-8`` or ``gb18030`` (a superset of GBK), or 415. An XLSX workbook's XML is
    UTF-8 by its standard (ECMA-376)."""
    if fmt.kind == "xlsx":
        return "utf-8"
    head = source.read(SNIFF_BYTES)
    source.seek(0)
    if fmt.charset and fmt.charset not in {"utf-8", "utf8", *GBK_NAMES}:
        raise UnsupportedMediaType(f"charset {fmt.charset} is not supported", field="Content-Type")
    if fmt.charset in GBK_NAMES:
        if fmt.kind != "csv":
            raise UnsupportedMediaType("NDJSON must be UTF-8", field="Content-Type")
        return "gb18030"
    if _mostly_utf8(head, ascii_counts=fmt.kind == "ndjson"):
        return "utf-8"
    if fmt.kind == "csv" and _decodes(head, "gb18030"):
        return "gb18030"
    expected = "UTF-8 or GBK" if fmt.kind == "csv" else "UTF-8"
    raise UnsupportedMediaType(f"the body is not {expected} text", field="body")


def _mostly_utf8(head: bytes, *, ascii_counts: bool) -> bool:
    """UTF-8 unless most lines fail to decode as UTF-8 (a stray bad line is
    rejected on its own; a file in another encoding is refused). ASCII lines
    count as UTF-8 for NDJSON, which has no other encoding; in CSV they say
    nothing (a GBK file has an ASCII header too)."""
    good = bad = 0
    for line in head.split(b"\n")[:-1] or [head]:
        if line.isascii():
            good += ascii_counts
            continue
        if _decodes(line, "utf-8"):
            good += 1
        else:
            bad += 1
    return bad == 0 or good >= bad


def _decodes(head: bytes, encoding: str) -> bool:
    import codecs

    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def physical_lines(source: IO[bytes]) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, too long) for every line; an over-long line is cut."""
    number = 0
    while True:
        line = source.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        too_long = len(line) > MAX_LINE_BYTES and not line.endswith(b"\n")
        while too_long and line and not line.endswith(b"\n"):
            line = source.readline(MAX_LINE_BYTES)
        if number == 1 and not too_long:
            line = line.removeprefix(BOM)
        yield number, b"" if too_long else line, too_long


# -- parsing -------------------------------------------------------------------
Parsed = tuple[int, dict[str, Any] | Rejection]


def ndjson_tasks(source: IO[bytes]) -> Iterator[Task]:
    """The body in chunks of whole lines (about ``CHUNK_BYTES``), numbered; a line
    longer than ``MAX_LINE_BYTES`` is skipped and refused on its own."""
    number, pending = 1, b""
    block = source.read(CHUNK_BYTES).removeprefix(BOM)
    while block:
        data = pending + block
        while True:
            cut = data.rfind(b"\n")
            if cut >= 0:
                lines = data.count(b"\n", 0, cut) + 1
                yield Task("ndjson", number, number + lines - 1, blob=data[:cut])
                number, data = number + lines, data[cut + 1 :]
            if len(data) <= MAX_LINE_BYTES:
                break
            # An unfinished line already too long: refused, and skipped to its end.
            yield Task("ndjson", number, number, parsed=[(number, checking.too_long())])
            number, data = number + 1, _rest_after_line(source, data)
        pending = data
        block = source.read(CHUNK_BYTES)
    if pending:  # the last line, without a newline
        yield Task("ndjson", number, number, blob=pending)


def _rest_after_line(source: IO[bytes], data: bytes) -> bytes:
    """What follows the newline that ends the current line (read on as far as needed)."""
    while (cut := data.find(b"\n")) < 0:
        data = source.read(CHUNK_BYTES)
        if not data:
            return b""
    return data[cut + 1 :]


def csv_tasks(source: IO[bytes], encoding: str) -> Iterator[Task]:
    return tabular.chunks("csv", csv_items(source, encoding), CSV_CHUNK_ROWS)


def csv_items(source: IO[bytes], encoding: str) -> Iterator[Parsed]:
    too_long: set[int] = set()

    def text_lines() -> Iterator[str]:
        for number, line, cut in physical_lines(source):
            if cut:
                too_long.add(number)
            yield line.decode(encoding, errors="replace")

    reader = csv.reader(text_lines(), strict=False)
    header = tabular.header_names(next(reader, None), what="CSV")
    consumed = reader.line_num
    for cells in reader:
        number, consumed = consumed + 1, reader.line_num
        if number in too_long:
            yield number, Rejection("body", f"the line is longer than {MAX_LINE_BYTES} bytes")
        elif any(cell.strip() for cell in cells):
            yield number, _csv_row(header, cells, encoding)


def _csv_row(header: list[str], cells: list[str], encoding: str) -> dict[str, Any] | Rejection:
    if len(cells) != len(header):
        return Rejection("body", f"the row has {len(cells)} fields, the header {len(header)}")
    for name, cell in zip(header, cells, strict=True):
        if "\ufffd" in cell:
            return Rejection(name, f"the value holds bytes that are not valid {encoding}")
    return tabular.table_row(header, cells)


# -- the run -------------------------------------------------------------------
def ingest(
    session: Any,
    caller: Caller,
    source: IO[bytes],
    *,
    fmt: BodyFormat,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Check and land every good line of a batch; what landed and what was rejected."""
    service.require_county_writer(caller)
    encoding = sniff_encoding(source, fmt)
    # The county's single writes wait while its batch runs (``records/service.py``).
    repository.lock_county_writes(session, caller.region, alone=True)
    ctx = service.write_context(session, caller, preload=True)
    tally = Tally()
    writer = BulkWriter(session, ctx, tally)
    setup = checking.Setup.of(
        ctx, batch_at=writer.batch_at, columns=repository.RECORD_COLUMNS,
        copy_types=repository.RECORD_COPY_TYPES if writer.copy_form else None,
    )  # fmt: skip
    workers = checking.worker_count(service.settings_of(session).ingest_workers)
    pool = checking.pool(workers) if _size(source) >= PARALLEL_MIN_BYTES else None
    checker = checking.Checker(ctx, setup, pool)
    tasks = {
        "ndjson": lambda: ndjson_tasks(source),
        "csv": lambda: csv_tasks(source, encoding),
        "xlsx": lambda: tabular.chunks("xlsx", tabular.xlsx_items(source), CSV_CHUNK_ROWS),
    }[fmt.kind]()
    with _older_objects_frozen():
        _land(tasks, checker, writer, workers, source, progress)
    writer.finish()
    _audit_batch(session, caller, tally, fmt)
    return BatchResult.model_validate(tally.result(fmt.kind, encoding))


def _size(source: IO[bytes]) -> int:
    position = source.tell()
    size = source.seek(0, io.SEEK_END)
    source.seek(position)
    return size


def _land(
    tasks: Iterator[Task], checker: checking.Checker, writer: BulkWriter, workers: int,
    source: IO[bytes], progress: Callable[[int], None] | None,
) -> None:  # fmt: skip
    """Keep the workers busy a few chunks ahead; write the results in order."""
    ahead: deque[tuple[Task, Future[checking.Checked]]] = deque()
    depth = 2 * max(workers, 1)
    try:
        for task in tasks:
            ahead.append((task, checker.submit(task)))
            while len(ahead) > depth or (ahead and ahead[0][1].done()):
                _write_next(ahead, writer, source, progress)
        while ahead:
            _write_next(ahead, writer, source, progress)
    except (BrokenProcessPool, TimeoutError) as exc:  # a worker died, or hangs
        checking.discard(checker.pool)
        raise Unavailable(
            "a batch-checking process stopped; nothing of this batch was stored, send it again"
        ) from exc
    finally:
        for _, future in ahead:
            future.cancel()


def _write_next(
    ahead: deque[tuple[Task, Future[checking.Checked]]], writer: BulkWriter,
    source: IO[bytes], progress: Callable[[int], None] | None,
) -> None:  # fmt: skip
    task, future = ahead.popleft()
    writer.take(task, future.result(timeout=CHUNK_TIMEOUT_SECONDS))
    if progress:
        progress(source.tell())


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Keep the objects that existed before the batch out of the cyclic GC's full passes.

    A batch promotes every chunk's objects to the oldest generation, which
    sets off full collections; each would walk the whole server's heap (the
    app, its models, SQLAlchemy's caches) again and again. ``gc.freeze`` sets
    those aside until the batch ends; nothing is lost, cycles among them are
    collected after ``unfreeze``.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _audit_batch(session: Any, caller: Caller, tally: Tally, fmt: BodyFormat) -> None:
    detail = {"format": fmt.kind, "created": tally.created, "updated": tally.updated,
              "unchanged": tally.unchanged, "rejected": tally.rejected_count}  # fmt: skip
    entry = audit.entry_for(
        caller, "records.batch", object_type="batch",
        request_id=session.info.get("request_id"), detail=detail,
    )  # fmt: skip
    audit.record(session, entry)

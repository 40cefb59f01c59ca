"""Cutting an NDJSON body into chunks of whole lines for the checking processes."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_hub.records import batch, checking

MAX = 40  # line limit and chunk size shrunk so every property example crosses both
CHUNK = 32


def reference(body: bytes) -> list[tuple[int, object]]:
    """Line by line, the obvious way: (number, line or refusal) for each non-blank line."""
    lines = body.removeprefix(batch.BOM).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out: list[tuple[int, object]] = []
    for number, line in enumerate(lines, 1):
        if len(line) > MAX:
            out.append((number, "too long"))
        elif line.strip():
            out.append((number, line))
    return out


def chunked(body: bytes) -> list[tuple[int, object]]:
    out: list[tuple[int, object]] = []
    previous_last = 0
    for task in batch.ndjson_tasks(io.BytesIO(body)):
        assert task.first_line == previous_last + 1, "chunks follow each other without a gap"
        previous_last = task.last_line
        for number, item in task.items():
            assert task.first_line <= number <= task.last_line
            out.append((number, "too long" if isinstance(item, checking.Rejection) else item))
    return out


line = st.one_of(
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")),
    st.just(b"   "),
    st.just(b"\r"),
    st.integers(min_value=MAX - 2, max_value=3 * MAX).map(lambda n: b"x" * n),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line, max_size=30),
    trailing_newline=st.booleans(),
    bom=st.booleans(),
)
def test_chunks_give_every_line_once_with_its_number(
    lines: list[bytes], trailing_newline: bool, bom: bool
) -> None:
    body = (batch.BOM if bom else b"") + b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    saved = batch.CHUNK_BYTES, batch.MAX_LINE_BYTES, checking.MAX_LINE_BYTES
    batch.CHUNK_BYTES, batch.MAX_LINE_BYTES, checking.MAX_LINE_BYTES = CHUNK, MAX, MAX
    try:
        assert chunked(body) == reference(body)
    finally:
        batch.CHUNK_BYTES, batch.MAX_LINE_BYTES, checking.MAX_LINE_BYTES = saved


def test_an_empty_body_gives_no_chunk() -> None:
    assert list(batch.ndjson_tasks(io.BytesIO(b""))) == []
    assert list(batch.ndjson_tasks(io.BytesIO(batch.BOM))) == []

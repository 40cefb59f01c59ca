"""JSON from outside the hub: one parser, with a limit on nesting (issue 15 #4).

Python's ``json`` module parses arrays and objects recursively: 10,000 ``[``
exhaust the interpreter's stack and raise ``RecursionError``, which no handler
expects (a 500). Other parsers stop at their own depths (pydantic's at 200,
orjson's at 1,024), so the hub sets one limit for every place it parses JSON
it did not write — request bodies (the middleware, before FastAPI parses
them), batch lines, cursors — and refuses deeper documents with a 400 that
names the field.

The hub's documents nest a few levels (a record: record → person → value), so
``MAX_DEPTH`` leaves ample room. The depth is measured before any parser runs,
in one pass without recursion that skips the insides of strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

from exchange_hub.errors import BadRequest, InvalidInput

MAX_DEPTH = 32

# A whole string (escapes included, unrolled so that it cannot backtrack), or a bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENING = frozenset(b"[{")


def too_deep(document: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in a JSON text nest more than ``limit`` levels.

    Text that is not JSON is measured all the same (an unterminated string
    counts the brackets after it); the parser refuses it either way.
    """
    data = document.encode() if isinstance(document, str) else document
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # cannot be deeper than it has openings: the usual case, at C speed
    depth = 0
    for token in _TOKENS.finditer(data):
        mark = data[token.start()]
        if mark in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif mark != 0x22:  # a closing bracket (0x22 is the quote that opens a string)
            depth -= 1
    return False


def check_depth(document: bytes | str, *, field: str = "body", what: str = "the body") -> None:
    """Refuse (400) a JSON text that nests deeper than ``MAX_DEPTH``."""
    if too_deep(document):
        raise BadRequest(
            f"{what} nests arrays and objects more than {MAX_DEPTH} levels deep", field=field
        )


def loads(document: bytes | str, *, field: str = "body", what: str = "the body") -> Any:
    """Parse JSON from outside the hub: 400 when nested too deep, 422 when not JSON."""
    check_depth(document, field=field, what=what)
    try:
        return json.loads(document)
    except ValueError as exc:  # JSONDecodeError, and bytes that are not UTF-8/16/32
        raise InvalidInput(f"{what} is not valid JSON", field=field) from exc

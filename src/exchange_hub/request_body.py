"""The one base of every request body: strict JSON (SPEC §8: a wrong type is a 422).

FastAPI parses a JSON body and then validates the parsed value in Pydantic's
Python mode, whose lax rules coerce: ``"2"`` became 2, ``"yes"`` true, ``0``
the date 1970-01-01 (issue 15, finding 7). Every request model derives from
``RequestBody`` instead, which is strict: each field takes its own JSON type
only, unknown fields are refused, and the refusal names the field.

JSON has no date, time or UUID type: it carries them as ISO 8601 (RFC 3339)
and RFC 9562 strings, which strict *Python* mode would refuse. Fields of
those types are declared ``IsoDate``, ``IsoDateTime`` and ``UuidText``: the
ISO string form (or the Python value itself, for in-code callers) and
nothing else — no numbers or numeric strings read as Unix timestamps, no bytes.

Sources that are text by nature convert explicitly instead of relying on
coercion: CSV batch lines go through ``model_validate_strings`` (the batch
parser), query parameters are declared with their types on the route.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict
from pydantic_core import PydanticCustomError


class RequestBody(BaseModel):
    """Base of every ``*In`` / ``*Create`` / ``*Patch`` … model a client sends."""

    model_config = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)


def _iso(kind: type, shape: re.Pattern[str], error: str, form: str) -> Callable[[Any], Any]:
    """A check that lets through only a ``kind`` value or a string of the ISO
    ``shape``; the lax parser behind it (``Strict(False)``) then reads the
    string. Pydantic alone would read ``"0"`` as 1970-01-01, even in strict
    JSON mode: a Unix timestamp is not how the hub's contract writes a date."""

    def only_iso(value: Any) -> Any:
        if isinstance(value, kind) or (isinstance(value, str) and shape.match(value)):
            return value
        raise PydanticCustomError(error, "Input should be {form}", {"form": form})

    return only_iso


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_UUID = re.compile(
    r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}\Z"
)

IsoDate = Annotated[
    date,
    Strict(False),
    BeforeValidator(_iso(date, _DATE, "date_type", "a date string YYYY-MM-DD")),
]
IsoDateTime = Annotated[
    datetime,
    Strict(False),
    BeforeValidator(_iso(datetime, _DATE_TIME, "datetime_type", "an RFC 3339 date-time string")),
]
UuidText = Annotated[
    uuid.UUID,
    Strict(False),
    BeforeValidator(_iso(uuid.UUID, _UUID, "uuid_type", "a UUID string")),
]

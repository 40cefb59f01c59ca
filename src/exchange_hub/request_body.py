"""The one base of every request body: strict JSON (SPEC §8: a wrong type is a 422).

FastAPI parses a JSON body and then validates the parsed value in Pydantic's
Python mode, whose lax rules coerce: ``"2"`` became 2, ``"yes"`` true, ``0``
the date 1970-01-01 (issue 15, finding 7). Every request model derives from
``RequestBody`` instead, which is strict: each field takes its own JSON type
only, unknown fields are refused, and the refusal names the field.

JSON has no date, time or UUID type: it carries them as ISO 8601 (RFC 3339)
and RFC 9562 strings, which strict *Python* mode would refuse. Fields of
those types are declared ``IsoDate``, ``IsoDateTime`` and ``UuidText``, and
integers carry ``WHOLE_NUMBER`` (``2`` and ``2.0``, never ``"2"``): the
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

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    Strict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from exchange_hub import id_numbers
from exchange_hub.errors import InvalidInput, UnsupportedMediaType
from exchange_hub.region_codes import normalise_code

JSON_MEDIA_TYPE = "application/json"


class RequestBody(BaseModel):
    """Base of every ``*In`` / ``*Create`` / ``*Patch`` … model a client sends.

    Strings are checked as sent, so that the schema's lengths and patterns are the
    contract (``" 110105"`` does not match a code's pattern); free text (``Text``)
    then drops its surrounding whitespace before it is stored.
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _sent_as_json(cls, value: Any) -> Any:
        """A body FastAPI did not parse as JSON reaches the model as its raw bytes (a
        ``text/plain`` or form-encoded request): a 415 naming the media types the hub
        reads, not "Input should be a valid dictionary" (issue 21). Raised as the hub's
        own error, which Pydantic passes through, so every JSON route answers alike."""
        if isinstance(value, bytes | bytearray):
            raise UnsupportedMediaType(
                f"send the body as JSON ({JSON_MEDIA_TYPE}; any application/*+json type "
                "is read too)",
                field="Content-Type",
                extra={"accepted": [JSON_MEDIA_TYPE]},
            )
        return value


# The forms of the contract's codes. ``[0-9]``, not ``\\d``: JSON Schema's ``\\d`` is
# ASCII, Pydantic's (Rust) is every Unicode digit.
REGION_CODE = r"^([0-9]{2}|[0-9]{4}|[0-9]{6})$"  # GB/T 2260: 44, 4403 or 440300
COUNTY_CODE = r"^[0-9]{4}(0[1-9]|[1-9][0-9])$"  # a county's code does not end in 00
PROVINCE_CODE = r"^[1-9][0-9](0000)?$"
MONTH = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"  # years 2000–2099
PERIOD = r"^20[0-9]{2}(-(0[1-9]|1[0-2])(/20[0-9]{2}-(0[1-9]|1[0-2]))?|-[Qq][1-4])?$"
ID_NUMBER = r"^([0-9]{15}|[0-9]{17}[0-9Xx])$"  # GB 11643; legacy 15-digit numbers converted
TWO_DIGITS = r"^[0-9]{2}$"


def _explained(explain: Callable[[str], str | None]) -> WrapValidator:
    """A refusal of a string's form carries the hub's own explanation of it."""

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            reason = explain(value) if isinstance(value, str) else None
            if reason is None:
                raise
            raise PydanticCustomError("string_pattern_mismatch", reason) from None

    return WrapValidator(check)


def _code_problem(value: str) -> str | None:
    try:
        normalise_code(value)
    except InvalidInput as exc:
        return exc.detail
    return None


def _id_number_problem(value: str) -> str | None:
    return id_numbers.form_problem(value.strip().upper())


RegionCode = Annotated[str, Field(pattern=REGION_CODE), _explained(_code_problem)]
CountyCode = Annotated[str, Field(pattern=COUNTY_CODE), _explained(_code_problem)]
IdNumber = Annotated[str, Field(pattern=ID_NUMBER), _explained(_id_number_problem)]

Text = Annotated[str, AfterValidator(str.strip)]
"""Free text: checked as sent (the ``NOT_BLANK`` pattern when it must hold more than
whitespace), stored without surrounding whitespace."""
# A character ``str.strip`` keeps, spelled out: ``\s`` means other sets in JSON Schema
# (ECMA-262), Pydantic (Rust) and Python.
NOT_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


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


def _json_number(value: Any, info: ValidationInfo) -> Any:
    # pydantic-core's stub names only "python" and "json"; model_validate_strings
    # validates in a third mode, "string".
    mode: str = info.mode
    if mode == "string" or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise PydanticCustomError("int_type", "Input should be a whole number")


class WholeNumber:
    """Metadata for a JSON integer: ``2`` or ``2.0`` (JSON Schema's ``integer`` is any
    number with a zero fractional part), never ``"2"`` or ``true``; ``2.5`` is
    refused by the parser. Text sources (``model_validate_strings``) may send
    digits. Write range constraints before it, so the schema keeps them:
    ``Annotated[int, Field(ge=0, le=30), WHOLE_NUMBER]``."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # The check above is strict. (For mypy, pydantic-core types a schema as a
        # read-only Mapping, so the int schema is copied, not changed in place.)
        number = {**handler(source), "strict": False}
        return core_schema.with_info_before_validator_function(_json_number, number)


WHOLE_NUMBER = WholeNumber()

UuidText = Annotated[
    uuid.UUID,
    Strict(False),
    BeforeValidator(_iso(uuid.UUID, _UUID, "uuid_type", "a UUID string")),
]

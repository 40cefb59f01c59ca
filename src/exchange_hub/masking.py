"""Masking (SPEC §7): ID numbers and mobile numbers in free text, never in clear.

One function, ``mask_text``, serves every log record (``logging_setup``), every
audit row (``audit.service.record``) and the free text the hub stores. What it catches:

- ID numbers of 18 characters (the last a digit, ``X`` or ``x``) and legacy ones
  of 15 digits, alone or inside text (``查询440305197707070777``), also written in
  their groups region / birth date / rest (6-8-4, 6-6-3) with the same single
  space or dash between: the birth date is starred (``440305********0777``);
- mobile numbers, 11 digits from 13x to 19x, with or without ``+86``, ``0086`` or
  ``86`` and the same single space or dash between the 3-4-4 groups: the middle
  four are starred (``138****5678``).

Not caught: other groupings (``4403 0519 7707 0707 77``) or mixed separators
(``440305 19770707-0777``), numbers in words or
Chinese numerals, and digit runs inside a run of 32 or more hex characters (a
digest or a uuid's hex) or inside a uuid written with its dashes
(``…-982b-17776521694c``): message, record and request ids stay intact in logs
and in the audit trail.
"""

from __future__ import annotations

import re
from typing import Any

_ID_18 = re.compile(r"(?<!\d)\d{6}([ -]?)(\d{8})\1\d{3}[\dXx](?![\dXx])")
_ID_15 = re.compile(r"(?<!\d)\d{6}([ -]?)(\d{6})\1\d{3}(?![\dXx])")
_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d([ -]?)(\d{4})\1\d{4}(?!\d)")
_HEX = frozenset("0123456789abcdefABCDEF")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DIGEST_LENGTH = 32


def mask_id_number(value: str) -> str:
    """``11010519491231002X`` → ``110105********002X`` (SPEC §7)."""
    value = value.strip()
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def _inside_digest(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is part of a run of 32+ hex characters or of a uuid."""
    first, last = start, end
    while first > 0 and text[first - 1] in _HEX:
        first -= 1
    while last < len(text) and text[last] in _HEX:
        last += 1
    if last - first >= _DIGEST_LENGTH and all(c in _HEX for c in text[first:last]):
        return True
    window = text[max(0, start - 35) : end + 35]
    offset = max(0, start - 35)
    return any(
        m.start() + offset <= start and end <= m.end() + offset for m in _UUID.finditer(window)
    )


def _star_group_2(match: re.Match[str]) -> str:
    """The match with its second group (birth date, or a phone's middle four) starred."""
    whole, offset = match.group(0), match.start()
    if _inside_digest(match.string, match.start(), match.end()):
        return whole
    start, end = match.span(2)
    return whole[: start - offset] + "*" * (end - start) + whole[end - offset :]


def mask_text(text: str) -> str:
    """ID numbers and mobile numbers in free text, masked (see the module docstring)."""
    for pattern in (_ID_18, _ID_15, _MOBILE):
        text = pattern.sub(_star_group_2, text)
    return text


def mask_values(value: Any) -> Any:
    """``mask_text`` of every string in a JSON-like value (keys too)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_values(k): mask_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_values(v) for v in value]
    return value

"""Schemathesis hooks for the role runs (``SCHEMATHESIS_HOOKS=tests.security.schemathesis_hooks``).

``positive_data_acceptance`` expects every request its schema allows to be
accepted. Most of what the hub refuses is in its schema (patterns, enums,
ranges, required fields); a few rules of the exchange cannot be written in
JSON Schema at all, and a request generated to fit the schema breaks them
by chance: a region code that is well formed but not in the GB/T 2260
catalogue, an ID number whose check character or embedded birth date is
wrong, a birth date that disagrees with the ID number sent beside it, a time
in the future, a cursor the hub never handed out, an Idempotency-Key reused
with another body. ``positive_data_acceptance_but_domain_rules`` is that
check with exactly those refusals set aside: a 422 naming the field and
stating the rule (``DOMAIN_RULES``). Any other refusal of a schema-valid
request is a failure, as in the original.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

# field → the wording of each rule of that field JSON Schema cannot state.
DOMAIN_RULES: dict[str, re.Pattern[str]] = {}


def _rules(fields: tuple[str, ...], *wordings: str) -> None:
    for name in fields:
        DOMAIN_RULES[name] = re.compile("|".join(wordings))


CATALOGUE = r"is not (in the GB/T 2260 catalogue|a current county)|is an abolished region"
_rules(("hukou_region", "residence_region", "to_region", "region", "certificate.issued_by"),
       CATALOGUE)  # fmt: skip
_rules(("cursor",), r"cursor is not one this hub handed out")  # opaque: only the hub makes them
_rules(("to_region",), CATALOGUE, r"cannot be addressed to your own county")  # the caller's own
# Deployment configuration: the allowlist, and http only on loopback when allowed.
_rules(("url",), r"is not on the operator's push allowlist", r"push endpoints must use https")
# A batch body is NDJSON or CSV text: its grammar (a header row of known columns) is not
# JSON Schema's to state; each line is then checked like a single record.
_rules(
    ("header", "body"),
    r"unknown CSV columns|the CSV body is empty|is not (UTF-8|UTF-8 or GBK) text",
)
# Time and other parameters: "not in the future" moves with the clock; a level is
# relative to the region asked about; listing items works for indicators counted
# from records and messages, not those from department reports.
_rules(("as_of",), r"lies in the future")
_rules(("period",), r"is in the future")
_rules(("level",), r"is above the region's own level")
_rules(("part", "indicator"), r"comes from department reports")
# The report catalogue is the operator's file (HUB_REPORT_CATALOGUE_FILE).
_rules(("department",), r"no report type is defined for")
DOMAIN_RULES["counts.*"] = re.compile(r"is not an item of the")
# A key names one request: reused with another body it is refused (IETF idempotency-key
# draft). A schema cannot say "not used before"; the generator reuses short keys.
_rules(("Idempotency-Key",), r"was used with a different request")
ID_NUMBERS = ("id_number", "person.id_number", "subject.id_number")
_rules(
    ID_NUMBERS,
    r"birth date .* is in the future or before 1880",  # the date inside the number
    r"impossible birth date",
    r"region prefix \d+ is not in the GB/T 2260 catalogue",  # the catalogue ships with the hub
    r"check character is",  # ISO 7064 MOD 11-2, under the strict policy
)


def is_domain_rule(response: Any) -> bool:
    if response.status_code != 422:
        return False
    try:
        problem = response.json()
    except ValueError:
        return False
    field = str(problem.get("field"))
    rule = DOMAIN_RULES.get("counts.*" if field.startswith("counts.") else field)
    return rule is not None and rule.search(str(problem.get("detail", ""))) is not None


@schemathesis.check
def positive_data_acceptance_but_domain_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    if is_domain_rule(response):
        return None
    return positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]

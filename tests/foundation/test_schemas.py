"""schemas/ holds the JSON Schema of every message and matches the code."""

from __future__ import annotations

import json
from pathlib import Path

from exchange_hub import schema_export

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_checked_in_schemas_match_the_code() -> None:
    stale = schema_export.drift(SCHEMAS)
    assert not stale, f"run `exchange-hub schemas` to regenerate: {stale}"


def test_schemas_are_json_schema_with_resolvable_references() -> None:
    names = {p.name for p in SCHEMAS.glob("*.json")}
    assert "RegionRead.json" in names
    for path in SCHEMAS.glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["$schema"].startswith("https://json-schema.org/")
        for ref in _refs(document):
            assert ref in names, (path.name, ref)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []

"""JSON Schema of every message the hub accepts or returns, generated from the code.

The source is the app's own OpenAPI document (every request and response
model of every route), written as one file per model under ``schemas/``;
references between models point at the sibling file. ``--check`` (and a
test) fails when the checked-in files drift from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exchange_hub.app import create_app

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _relink(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if (
                key == "$ref"
                and isinstance(value, str)
                and value.startswith("#/components/schemas/")
            ):
                out[key] = value.rsplit("/", 1)[1] + ".json"
            else:
                out[key] = _relink(value)
        return out
    if isinstance(node, list):
        return [_relink(item) for item in node]
    return node


def generate() -> dict[str, str]:
    """File name → JSON text, for every component schema of the OpenAPI document."""
    components = create_app().openapi().get("components", {}).get("schemas", {})
    files = {}
    for name, schema in sorted(components.items()):
        document = {"$schema": DRAFT, "$id": f"{name}.json", **_relink(schema)}
        files[f"{name}.json"] = (
            json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        )
    return files


def write(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    files = generate()
    for stale in folder.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return len(files)


def drift(folder: Path) -> list[str]:
    """Names of files that are missing, extra or different from what the code generates."""
    files = generate()
    present = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.json")}
    changed = [n for n, text in files.items() if present.get(n) != text]
    extra = [n for n in present if n not in files]
    return sorted(changed + extra)

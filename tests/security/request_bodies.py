"""Request bodies generated from the hub's OpenAPI document, for the security tests.

``operations(document)`` lists every operation that takes a JSON body;
``minimal(schema)`` builds the smallest body its schema allows (required
fields only, the first enum value, the shortest match of a pattern);
``fields(schema)`` walks every property, nested objects, array items and map
values; ``wrong_values(schema)`` gives values of the wrong JSON type for one.
Nothing here names a field of the hub: it all follows from the document.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import find
from hypothesis import strategies as st

FORMATTED = {"date": "2026-10-02", "date-time": "2026-10-02T08:00:00+08:00"}
MAP_KEY = "item"  # the key used for a value of a map (additionalProperties)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    schema: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def url(self) -> str:
        """The path with every parameter filled (ids: a fresh UUID)."""
        out = self.path
        while "{" in out:
            start, end = out.index("{"), out.index("}")
            out = out[:start] + str(uuid.uuid4()) + out[end + 1 :]
        return out


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                schema = content["application/json"]["schema"]
                found.append(Operation(method, path, resolve(document, schema)))
    return found


def resolve(document: dict[str, Any], node: Any) -> Any:
    """The schema with every ``$ref`` replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            return resolve(document, document["components"]["schemas"][name])
        return {key: resolve(document, value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(document, item) for item in node]
    return node


def non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of an optional value without its ``null`` branch."""
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        return {**{k: v for k, v in schema.items() if k != "anyOf"}, **branches[0]}
    return schema


def minimal(schema: dict[str, Any]) -> Any:
    schema = non_null(schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: minimal(properties[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "integer" or kind == "number":
        return schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
    if kind == "boolean":
        return False
    if kind == "string":
        return _text(schema)
    raise AssertionError(f"no minimal value for {schema}")


def _text(schema: dict[str, Any]) -> str:
    if schema.get("format") in FORMATTED:
        return FORMATTED[schema["format"]]
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("pattern", "").startswith("^"):  # the whole value has a form
        return find(st.from_regex(schema["pattern"], fullmatch=True), lambda _: True)  # type: ignore[no-any-return]
    return "x" * max(schema.get("minLength", 1), 3)  # free text ("\\S": not blank)


def fields(
    schema: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(path, schema) of every value inside a body, depth first."""
    schema = non_null(schema)
    for name, child in schema.get("properties", {}).items():
        yield (*path, name), child
        yield from fields(child, (*path, name))
    if isinstance(schema.get("additionalProperties"), dict):
        child = schema["additionalProperties"]
        yield (*path, MAP_KEY), child
        yield from fields(child, (*path, MAP_KEY))
    if schema.get("type") == "array":
        yield (*path, "0"), schema["items"]
        yield from fields(schema["items"], (*path, "0"))


def wrong_values(schema: dict[str, Any]) -> list[Any]:
    """Values of another JSON type than the schema's (what lax parsing would coerce)."""
    schema = non_null(schema)
    kind = schema.get("type") or ("string" if "enum" in schema else None)
    return {
        "string": [0, 20261002, True],
        "integer": ["2", True],
        "number": ["1.5", True],
        "boolean": ["yes", "true", 1, 0],
        "object": ["x", 1, []],
        "array": ["x", {}],
    }.get(kind, [])  # type: ignore[arg-type]


def with_value(
    schema: dict[str, Any], base: dict[str, Any], path: tuple[str, ...], value: Any
) -> dict[str, Any]:
    """``base`` with ``value`` at ``path``; missing parents are built minimal."""
    body = copy.deepcopy(base)
    target: Any = body
    node = non_null(schema)
    for step in path[:-1]:
        node = _child(node, step)
        if isinstance(target, list):
            while len(target) <= int(step):
                target.append(minimal(node))
            target = target[int(step)]
            continue
        if target.get(step) is None:
            target[step] = minimal(node)
        target = target[step]
    last = path[-1]
    if isinstance(target, list):
        target[int(last) :] = [value]
    else:
        target[last] = value
    return body


def _child(schema: dict[str, Any], step: str) -> dict[str, Any]:
    if schema.get("type") == "array":
        return non_null(schema["items"])
    if step in schema.get("properties", {}):
        return non_null(schema["properties"][step])
    return non_null(schema["additionalProperties"])

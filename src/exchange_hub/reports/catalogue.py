"""The declarative table of report types: which items each department counts.

The bundled ``catalogue.toml`` ships with the hub; an operator extends or
overrides it with a file of the same shape named in ``report_catalogue_file``
(``HUB_REPORT_CATALOGUE_FILE``), without a code change.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from exchange_hub.scope import DEPARTMENTS

_ITEM_KEY = re.compile(r"[a-z][a-z0-9_]{0,59}")


class CatalogueError(ValueError):
    """The operator's catalogue file cannot be used (named, with the reason)."""


@dataclass(frozen=True)
class ReportType:
    """One department's monthly report: its title and counted items (key → label)."""

    department: str
    title: str
    items: dict[str, str]


@dataclass(frozen=True)
class ReportCatalogue:
    types: dict[str, ReportType]

    def report_type(self, department: str) -> ReportType | None:
        return self.types.get(department)

    @property
    def departments(self) -> tuple[str, ...]:
        return tuple(d for d in DEPARTMENTS if d in self.types)


def _check_department(department: str, table: Any, source: str) -> None:
    if department not in DEPARTMENTS:
        raise CatalogueError(
            f"{source}: unknown department {department!r}; use one of {', '.join(DEPARTMENTS)}"
        )
    if not isinstance(table, dict):
        raise CatalogueError(f"{source}: [{department}] must be a table")


def _items_of(department: str, table: dict[str, Any], source: str) -> dict[str, str]:
    items = table.get("items", {})
    if not isinstance(items, dict):
        raise CatalogueError(f"{source}: [{department}.items] must be a table")
    for key, label in items.items():
        if not _ITEM_KEY.fullmatch(key):
            raise CatalogueError(
                f"{source}: item {department}.{key} must be lower_snake_case (max 60)"
            )
        if not isinstance(label, str) or not label.strip():
            raise CatalogueError(f"{source}: item {department}.{key} needs a label")
    return dict(items)


def merge_catalogue(
    base: dict[str, ReportType], document: dict[str, Any], source: str
) -> dict[str, ReportType]:
    """Apply one catalogue document over ``base``: add or relabel items, add departments."""
    merged = dict(base)
    for department, table in document.items():
        _check_department(department, table, source)
        items = _items_of(department, table, source)
        previous = merged.get(department)
        kept = {} if previous is None or table.get("replace_items") else dict(previous.items)
        kept.update(items)
        if not kept:
            raise CatalogueError(f"{source}: department {department} has no items")
        title = table.get("title") or (previous.title if previous else department)
        merged[department] = ReportType(department, str(title), kept)
    return merged


def _read_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: {exc}") from exc


def bundled_document() -> dict[str, Any]:
    text = resources.files("exchange_hub.reports").joinpath("catalogue.toml").read_text("utf-8")
    return _read_toml(text, "catalogue.toml")


_CACHE: dict[tuple[str, float], ReportCatalogue] = {}


def load_catalogue(extra_file: Path | None = None) -> ReportCatalogue:
    """The bundled catalogue with the operator's file applied (re-read when the file changes)."""
    stamp = extra_file.stat().st_mtime if extra_file is not None and extra_file.exists() else 0.0
    cache_key = (str(extra_file or ""), stamp)
    if cache_key not in _CACHE:
        types = merge_catalogue({}, bundled_document(), "catalogue.toml")
        if extra_file is not None:
            if not extra_file.exists():
                raise CatalogueError(f"{extra_file}: the report catalogue file does not exist")
            text = extra_file.read_text(encoding="utf-8")
            types = merge_catalogue(types, _read_toml(text, str(extra_file)), str(extra_file))
        _CACHE[cache_key] = ReportCatalogue(types)
    return _CACHE[cache_key]

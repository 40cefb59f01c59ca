"""Queries only in repositories (issue 16): the build checks it.

Every module of ``src/exchange_hub`` is parsed with ``ast``. A module that is
not a repository (``repository.py``, ``*_repository.py``) or listed in
``ALLOWED`` with its reason may not build SQL: no call of SQLAlchemy's
statement or expression constructors (``select``, ``insert``, ``update``,
``delete``, ``text``, ``func.…``, ``union``, ``exists``, …, however imported)
and no ``.execute``/``.exec_driver_sql``/``.scalars``/``.scalar`` on a
session or connection, no ``cursor.copy``. Methods of the same name on other
objects (``dict.update``, ``list.insert``) are told apart by where the name
comes from, not by grep.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import exchange_hub

SOURCE = Path(exchange_hub.__file__).parent
ROOT = Path(__file__).resolve().parents[2]

#: Names of SQLAlchemy whose call builds a statement or a SQL expression.
SQL_BUILDERS = frozenset(
    {
        "select",
        "insert",
        "update",
        "delete",
        "text",
        "func",
        "union",
        "union_all",
        "intersect",
        "except_",
        "exists",
        "literal",
        "literal_column",
        "bindparam",
        "case",
        "cast",
        "and_",
        "or_",
        "not_",
        "tuple_",
        "values",
        "lateral",
        "table",
        "column",
        "null",
        "true",
        "false",
        "over",
        "any_",
        "all_",
        "distinct",
        "aliased",
    }
)
#: Methods that send a statement to the database.
EXECUTING = frozenset({"execute", "exec_driver_sql", "scalars", "scalar", "query"})
#: Receivers those methods are sent to: sessions, connections, cursors.
DB_RECEIVERS = frozenset({"session", "connection", "conn", "cursor", "cur", "db", "raw", "bind"})

#: Modules that may build SQL although they are not called repository, each with why.
ALLOWED: dict[str, str] = {
    "db.py": "plumbing: engines, SQLite pragmas and BEGIN IMMEDIATE, lock timeouts, ping, "
    "the migrations' advisory lock, a standby's replay position",
    "models/record.py": "partial-index predicates (DDL) and the predicates written to match them",
}


@dataclass(frozen=True)
class SqlSite:
    """One place a module builds or sends SQL."""

    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


def _sqlalchemy_names(tree: ast.Module) -> tuple[dict[str, str], set[str]]:
    """Local names bound to SQLAlchemy builders (alias → original), and module aliases."""
    names: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in SQL_BUILDERS:
                    names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sqlalchemy"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    return names, modules


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _receiver_name(node: ast.expr) -> str | None:
    """The last name of a call's receiver: ``self.session`` → ``session``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _receiver_name(node.func)
    return None


def _is_db_receiver(node: ast.expr) -> bool:
    name = (_receiver_name(node) or "").lower().lstrip("_")
    return name in DB_RECEIVERS or name.endswith(("session", "connection", "conn", "cursor"))


def _call_site(call: ast.Call, names: dict[str, str], modules: set[str]) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in names:
        return f"{names[func.id]}()"
    if isinstance(func, ast.Attribute):
        root = _root_name(func)
        if root in names and names[root] == "func":
            return f"func.{func.attr}()"
        if root in modules and func.attr in SQL_BUILDERS:
            return f"sqlalchemy.{func.attr}()"
        if func.attr in EXECUTING and _is_db_receiver(func.value):
            return f".{func.attr}()"
        if func.attr == "copy" and _is_db_receiver(func.value):
            return "cursor.copy()"
        if func.attr in {"insert", "update", "delete", "select"} and (
            isinstance(func.value, ast.Attribute) and func.value.attr == "__table__"
        ):
            return f"__table__.{func.attr}()"
    return None


def sql_sites(path: Path) -> list[SqlSite]:
    """Every call in ``path`` (a module of the hub) that builds or sends SQL."""
    module = path.relative_to(SOURCE).as_posix()
    return sql_sites_in(path.read_text(encoding="utf-8"), module)


def sql_sites_in(source: str, module: str) -> list[SqlSite]:
    tree = ast.parse(source, filename=module)
    names, modules = _sqlalchemy_names(tree)
    return [
        SqlSite(module, node.lineno, what)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (what := _call_site(node, names, modules))
    ]


def is_repository(module: str) -> bool:
    name = module.rsplit("/", 1)[-1]
    return name == "repository.py" or name.endswith("_repository.py")


def misplaced_sql() -> dict[str, list[SqlSite]]:
    """Modules that build SQL but are neither repositories nor allowed, with their sites."""
    found: dict[str, list[SqlSite]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        module = path.relative_to(SOURCE).as_posix()
        if is_repository(module) or module in ALLOWED:
            continue
        if sites := sql_sites(path):
            found[module] = sites
    return found


def test_queries_only_in_repositories() -> None:
    found = misplaced_sql()
    listing = "\n".join(str(site) for sites in found.values() for site in sites)
    assert not found, (
        f"SQL built outside a repository (move it, or allow it with a reason):\n{listing}"
    )


def test_every_allowed_module_exists_and_still_needs_it() -> None:
    stale = [m for m in ALLOWED if not (SOURCE / m).exists() or not sql_sites(SOURCE / m)]
    assert not stale, f"allowed but gone or free of SQL (drop from ALLOWED): {stale}"


def test_the_scan_tells_sql_from_dict_methods() -> None:
    source = (
        "from sqlalchemy import select as pick, func\n"
        "import sqlalchemy as sa\n"
        "def f(session, d, rows, self):\n"
        "    d.update(x=1)\n"
        "    rows.insert(0, 1)\n"
        "    d.copy()\n"
        "    session.execute(pick(1))\n"
        "    func.count()\n"
        "    sa.text('x')\n"
        "    self._session.scalars(1)\n"
        "    Thing.__table__.delete()\n"
    )
    whats = sorted(site.what for site in sql_sites_in(source, "sample.py"))
    expected = [".execute()", ".scalars()", "__table__.delete()", "func.count()", "select()",
                "sqlalchemy.text()"]  # fmt: skip
    assert whats == sorted(expected)


def test_a_service_that_builds_sql_is_found() -> None:
    service = SOURCE / "members" / "service.py"
    source = service.read_text(encoding="utf-8") + (
        "\n\ndef _count(session):\n"
        "    from sqlalchemy import func, select\n\n"
        "    return session.scalar(select(func.count()).select_from(Member))\n"
    )
    assert not is_repository("members/service.py")
    assert [site.what for site in sql_sites_in(source, "members/service.py")] != []


def test_the_console_contract_names_every_repository() -> None:
    """import-linter's wildcards replace whole module names only, so the contract keeping
    web/ off the repositories lists each ``*_repository`` module by name."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = pyproject["tool"]["importlinter"]["contracts"]
    (console,) = [c for c in contracts if c["name"].startswith("the console uses domains")]
    forbidden = set(console["forbidden_modules"])
    assert console["source_modules"] == ["exchange_hub.web"]
    assert "exchange_hub.*.repository" in forbidden
    named = {
        "exchange_hub." + path.relative_to(SOURCE).with_suffix("").as_posix().replace("/", ".")
        for path in SOURCE.rglob("*_repository.py")
    }
    assert named <= forbidden, f"add to the contract in pyproject.toml: {sorted(named - forbidden)}"


if __name__ == "__main__":  # pragma: no cover - the measure of the report
    result = misplaced_sql()
    for module, sites in result.items():
        print(f"{len(sites):4d}  {module}")
    print(f"{len(result)} modules build SQL outside repositories", file=sys.stderr)

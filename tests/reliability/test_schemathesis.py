"""schemathesis against the hub's own OpenAPI document, as a county, a department and an admin.

Every operation of ``/openapi.json`` gets a bounded number of generated
requests sent to a real hub process: valid and invalid ones as the role it is
made for, a few as each other role (which must be refused in the documented
form). No answer may be a 5xx, and every answer must match the schema
documented for its status and content type. Failures are collected over all
operations and reported together rather than stopping at the first.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from tests.reliability.harness import HubServer, add_member, running_hub
from tests.reliability.summary import Figures

EXAMPLES = int(os.environ.get("HUB_RELIABILITY_EXAMPLES", "20"))
"""Valid requests per operation, as the role that uses it."""
NEGATIVE_EXAMPLES = 4
"""Invalid requests per operation, as the role that uses it."""
OTHER_ROLE_EXAMPLES = 3
"""Requests per operation as each role that may not use it (403/404 documents)."""
REQUEST_TIMEOUT_SECONDS = 15
ADMIN_PATHS = (
    "/api/v1/members", "/api/v1/audit", "/api/v1/push-deliveries", "/api/v1/metrics",
    "/api/v1/bulletin", "/api/v1/scorecard", "/api/v1/reports/rates", "/api/v1/reports/missing",
)  # fmt: skip


def user_of(method: str, path: str) -> str:
    """The role an operation is made for: it gets the full number of examples."""
    if path == "/api/v1/members/me/push-endpoint" or path == "/api/v1/members/me":
        return "county"
    if path == "/api/v1/reports" and method == "POST":
        return "department"
    if path.startswith(ADMIN_PATHS) or path.startswith("/api/v1/reports"):
        return "admin"
    return "county"


def plan(method: str, path: str, role: str) -> list[tuple[GenerationMode, int]]:
    if user_of(method, path) != role:
        return [(GenerationMode.POSITIVE, OTHER_ROLE_EXAMPLES)]
    return [(GenerationMode.POSITIVE, EXAMPLES), (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)]


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    return [not_a_server_error, response_schema_conformance, content_type_conformance]


@dataclass
class Api:
    server: HubServer
    headers: dict[str, dict[str, str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def api(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("schemathesis") / "hub"
    with running_hub(pg_admin_url, folder) as server:
        api = Api(server)
        members = {
            "county": add_member(server, role="county", region="110105"),
            "department": add_member(
                server, role="department", region="110105", department="police"
            ),
            "admin": add_member(server, role="admin", region="440000"),
        }
        api.headers = {role: m.headers for role, m in members.items()}
        yield api


@dataclass
class Findings:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    """"METHOD path: check" → the first report of it."""

    def add(self, operation: str, message: str) -> None:
        title = message.strip().splitlines()[0] if message.strip() else "failure"
        self.failures.setdefault(f"{operation}: {title}", message[:1500])


def exercise(
    operation: Any, api: Api, role: str, mode: GenerationMode, examples: int, findings: Findings
) -> None:
    label = f"{operation.method.upper()} {operation.path} as {role}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        findings.cases += 1
        try:
            response = case.call(
                base_url=api.server.url, headers=api.headers[role], timeout=REQUEST_TIMEOUT_SECONDS
            )
        except Exception as exc:  # a hang or a dropped connection is a finding, not a crash
            findings.add(label, f"no answer: {exc.__class__.__name__}: {exc}")
            return
        findings.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=_checks(), headers=api.headers[role])
        except FailureGroup as exc:
            sent = f"{response.request.method} {response.request.url}"
            for failure in exc.exceptions:
                findings.add(label, f"{failure.title}\n{sent}\n{response.text[:300]}\n{failure}")

    try:
        run()
    except Unsatisfiable:
        return  # no invalid request exists (e.g. an operation without parameters)


@pytest.mark.parametrize("role", ["county", "department", "admin"])
def test_openapi_contract_holds(api: Api, role: str, figures: Figures, tmp_path: Path) -> None:
    schema = schemathesis.openapi.from_url(f"{api.server.url}/openapi.json")
    findings = Findings()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in plan(operation.method.upper(), operation.path, role):
            exercise(operation, api, role, mode, examples, findings)
    figures.faults += findings.cases
    figures.notes.append(
        f"{role}: {findings.cases} generated requests, answers "
        f"{dict(sorted(findings.statuses.items()))}"
    )
    report = "\n\n".join(f"## {k}\n{v}" for k, v in sorted(findings.failures.items()))
    assert not findings.failures, f"{len(findings.failures)} findings as {role}:\n{report}"

"""The console's pages, one module per group; each calls its domain's service functions."""

from __future__ import annotations

from fastapi import APIRouter

from exchange_hub.web.navigation import AVAILABLE
from exchange_hub.web.pages import (
    account,
    audit_trail,
    bulletin,
    latency,
    overview,
    reports,
    scorecard,
    todo,
    users,
)

ROUTERS: list[APIRouter] = [
    overview.router,
    latency.router,
    bulletin.router,
    reports.router,
    scorecard.router,
    todo.router,
    audit_trail.router,
    users.router,
    account.router,
]
AVAILABLE.update(
    {
        "/console/overview",
        "/console/drilldown",
        "/console/latency",
        "/console/bulletin",
        "/console/reports",
        "/console/scorecard",
        "/console/todo",
        "/console/audit",
        "/console/users",
        "/console/account",
    }
)

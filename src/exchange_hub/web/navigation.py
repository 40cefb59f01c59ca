"""The console's menu: which pages each role sees, in order."""

from __future__ import annotations

from dataclasses import dataclass

from exchange_hub.web.auth import ActiveSession


@dataclass(frozen=True)
class NavItem:
    key: str
    href: str | None
    """None: the page is planned but not built yet (shown greyed)."""
    roles: tuple[str, ...]


NAV: tuple[NavItem, ...] = (
    NavItem("nav.todo", "/console/todo", ("county",)),
    NavItem("nav.overview", "/console/overview", ("admin",)),
    NavItem("nav.drilldown", "/console/drilldown", ("admin",)),
    NavItem("nav.latency", "/console/latency", ("admin",)),
    NavItem("nav.bulletin", "/console/bulletin", ("admin",)),
    NavItem("nav.reports", "/console/reports", ("admin",)),
    NavItem("nav.scorecard", "/console/scorecard", ("admin",)),
    NavItem("nav.audit", "/console/audit", ("admin",)),
    NavItem("nav.users", "/console/users", ("admin",)),
    NavItem("nav.account", "/console/account", ("admin", "county")),
)

AVAILABLE: set[str] = set()
"""Hrefs whose pages are registered; ``web/pages`` adds to it as it includes each page."""


def nav_items(account: ActiveSession) -> list[NavItem]:
    role = account.user.role
    shown = []
    for item in NAV:
        if role not in item.roles:
            continue
        live = item.href is not None and item.href in AVAILABLE
        shown.append(item if live else NavItem(item.key, None, item.roles))
    return shown


def home_of(role: str) -> str:
    for item in NAV:
        if role in item.roles and item.href in AVAILABLE:
            return item.href
    return "/console/account"

"""The console's pages, one module per group; each calls its domain's service functions."""

from __future__ import annotations

from fastapi import APIRouter

from exchange_hub.web.navigation import AVAILABLE
from exchange_hub.web.pages import account, audit_trail

ROUTERS: list[APIRouter] = [audit_trail.router, account.router]
AVAILABLE.update({"/console/audit", "/console/account"})

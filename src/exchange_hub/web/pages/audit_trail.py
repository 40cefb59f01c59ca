"""审计日志: the audit trail of the admin's region, filterable, with the chain's verification."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from exchange_hub.audit import service as audit
from exchange_hub.context import HubContext
from exchange_hub.deps import Hub
from exchange_hub.masking import mask_text
from exchange_hub.models import AuditEvent
from exchange_hub.scope import require_role
from exchange_hub.web.render import Page, render
from exchange_hub.web.session import Account, ConsoleRoute, unit_of_work

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 100
ACTIONS = (
    "console.sign_in",
    "console.sign_out",
    "console.person_data_read",
    "console.user_added",
    "scope.refused",
    "auth.refused",
    "message.read",
    "inbox.pull",
)
"""Offered as suggestions; any action name may be typed."""
OUTCOMES = ("ok", "refused", "locked")


def _detail_text(detail: dict[str, Any] | None) -> str:
    """Details as compact JSON; any ID number inside is masked (SPEC §7)."""
    return mask_text(json.dumps(detail, ensure_ascii=False, default=str)) if detail else ""


@router.get("/audit", include_in_schema=False)
def audit_page(
    request: Request,
    hub: Hub,
    account: Account,
    action: Annotated[str, Query(max_length=60)] = "",
    outcome: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    caller = account.caller
    require_role(caller, "admin")
    with unit_of_work(request) as session:
        values = _audit_values(session, hub, caller.region, action, outcome, cursor)
    return render(request, Page("audit.html", "audit.title", values), account=account)


def _audit_values(
    session: Session, hub: HubContext, region: str, action: str, outcome: str, cursor: int
) -> dict[str, object]:
    rows = audit.list_events(
        session,
        within=region,
        action=action or None,
        outcome=outcome or None,
        after_id=cursor,
        limit=PAGE_SIZE,
    )
    events = [{**_event(row), "detail_text": _detail_text(row.detail)} for row in rows]
    filters = {"action": action, "outcome": outcome}
    next_cursor = rows[-1].id if len(rows) == PAGE_SIZE else None
    return {
        "chain": audit.verify_chain(session, hub.keyring),
        "events": events,
        "actions": ACTIONS,
        "outcomes": OUTCOMES,
        "action": action,
        "outcome": outcome,
        "cursor": cursor,
        "first_link": "/console/audit?" + urlencode(filters),
        "next_link": "/console/audit?" + urlencode({**filters, "cursor": next_cursor})
        if next_cursor
        else "",
    }


_SHOWN = ("id", "at", "actor", "region", "action", "outcome", "object_type", "object_id", "client")


def _event(row: AuditEvent) -> dict[str, object]:
    return {key: getattr(row, key) for key in _SHOWN}

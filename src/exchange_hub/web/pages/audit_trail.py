"""审计日志: the audit trail of the admin's region, newest first, filterable by action,
outcome and dates, with the chain's verification and a CSV export of what the filter finds.

Rows are shown in words: an action's label from the locales, the actor as a member or
console user, regions by name, and the detail as labelled values. ID numbers were masked
when the rows were written (``audit.service.record``); they are masked again on the way
out, so nothing in clear can reach the page or the file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from exchange_hub.audit import service as audit
from exchange_hub.deps import Hub
from exchange_hub.errors import InvalidInput
from exchange_hub.masking import mask_text
from exchange_hub.models import AuditEvent
from exchange_hub.regions import service as regions
from exchange_hub.scope import Caller, require_role
from exchange_hub.web.i18n import Translate, catalogue, translator
from exchange_hub.web.render import (
    LOCAL_TIME,
    Page,
    format_period,
    format_time,
    render,
    request_language,
)
from exchange_hub.web.session import Account, ConsoleRoute, unit_of_work

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 100
EXPORT_LIMIT = 20_000
"""Rows in one CSV export; a longer span is exported in parts (narrower dates)."""
OUTCOMES = ("ok", "refused", "locked")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CSV_BOM = "\ufeff"

ActionParam = Annotated[str, Query(max_length=60)]
OutcomeParam = Annotated[str, Query(max_length=20)]
DateParam = Annotated[str, Query(max_length=10)]


def known_actions(lang: str) -> list[str]:
    """Actions with a label in the locales, offered by the filter (any name may be asked)."""
    prefix = "audit.action."
    return sorted(
        key[len(prefix) :]
        for key in catalogue(lang)
        if key.startswith(prefix) and key != prefix + "unknown"
    )


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a date (YYYY-MM-DD)", field=field) from exc


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, LOCAL_TIME)


def event_filter(
    caller: Caller, action: str, outcome: str, date_from: str, date_to: str, cursor: int
) -> audit.EventFilter:
    """The page's query as the audit service's filter: local (Asia/Shanghai) whole days."""
    first, last = _day(date_from, "date_from"), _day(date_to, "date_to")
    if first and last and first > last:
        raise InvalidInput("the start date is after the end date", field="date_from")
    if outcome and outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
    return audit.EventFilter(
        within=caller.region,
        action=action or None,
        outcome=outcome or None,
        since=_start_of(first) if first else None,
        until=_start_of(last + timedelta(days=1)) if last else None,
        before_id=cursor or None,
    )


# -- rows in words -----------------------------------------------------------------
def _label(t: Translate, key: str, fallback: str) -> str:
    text = t(key)
    return fallback if text == key else text


def actor_text(row: AuditEvent, t: Translate, names: dict[str, str]) -> str:
    """``county:440305:深圳南山`` → 深圳南山（县级系统）; console users and the operator by name."""
    if row.actor in ("system", "operator"):
        return t(f"audit.actor.{row.actor}")
    role, _region, name = [*row.actor.split(":", 2), "", ""][:3]
    if not name:
        return row.actor
    if name.startswith("console:"):
        return t("audit.actor.console", name=name.removeprefix("console:"))
    return t("audit.actor.member", name=name, role=_label(t, f"member_role.{role}", role))


def _value_text(key: str, value: Any, t: Translate, names: dict[str, str], lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("audit.yes") if value else t("audit.no")
    if isinstance(value, list):
        return t("audit.count_items", count=len(value))
    if isinstance(value, dict):
        return mask_text(json.dumps(value, ensure_ascii=False, default=str))
    text = str(value)
    by_key = {
        "kind": f"record_kind.{text}",
        "department": f"dept.{text}",
        "role": f"role.{text}",
        "field": f"field.{text}",
    }
    if key in by_key:
        return _label(t, by_key[key], text)
    if key == "region":
        return names.get(text, text)
    if key == "period":
        return format_period(text, lang)
    return mask_text(text)


def detail_items(
    detail: dict[str, Any] | None, t: Translate, names: dict[str, str], lang: str
) -> list[tuple[str, str]]:
    """The detail as (label, value) pairs, in the order it was written."""
    return [
        (_label(t, f"audit.detail.{key}", key), _value_text(key, value, t, names, lang))
        for key, value in (detail or {}).items()
    ]


def _codes_of(rows: list[AuditEvent]) -> set[str]:
    codes = {row.region for row in rows if row.region}
    codes |= {str(row.detail["region"]) for row in rows if row.detail and row.detail.get("region")}
    return codes


def event_view(row: AuditEvent, t: Translate, names: dict[str, str], lang: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "actor": actor_text(row, t, names),
        "region": row.region,
        "action": row.action,
        "action_label": _label(t, f"audit.action.{row.action}", row.action),
        "outcome": row.outcome,
        "outcome_label": _label(t, f"audit.outcome.{row.outcome}", row.outcome),
        "object_label": _label(t, f"audit.object.{row.object_type}", row.object_type or ""),
        "object_id": row.object_id or "",
        "client": row.client,
        "details": detail_items(row.detail, t, names, lang),
    }


def _views(session: Session, rows: list[AuditEvent], lang: str) -> list[dict[str, Any]]:
    t = translator(lang)
    names = regions.names_of(session, _codes_of(rows))
    return [event_view(row, t, names, lang) for row in rows]


# -- the page and the export -----------------------------------------------------------
@router.get("/audit", include_in_schema=False)
def audit_page(
    request: Request,
    hub: Hub,
    account: Account,
    action: ActionParam = "",
    outcome: OutcomeParam = "",
    date_from: DateParam = "",
    date_to: DateParam = "",
    cursor: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> HTMLResponse:
    caller = account.caller
    require_role(caller, "admin")
    lang = request_language(request)
    wanted = event_filter(caller, action, outcome, date_from, date_to, cursor)
    filters = {"action": action, "outcome": outcome, "date_from": date_from, "date_to": date_to}
    with unit_of_work(request) as session:
        rows = list(audit.newest_events(session, wanted, limit=PAGE_SIZE))
        events = _views(session, rows, lang)
        region_names = regions.names_of(session, [e["region"] for e in events])
        chain = audit.verify_chain(session, hub.keyring)
    next_cursor = rows[-1].id if len(rows) == PAGE_SIZE else None
    values = {
        "chain": chain,
        "events": events,
        "region_names": region_names,
        "actions": [(a, translator(lang)(f"audit.action.{a}")) for a in known_actions(lang)],
        "outcomes": OUTCOMES,
        **filters,
        "cursor": cursor,
        "first_link": "/console/audit?" + urlencode(filters),
        "csv_link": "/console/audit/export.csv?" + urlencode(filters),
        "next_link": "/console/audit?" + urlencode({**filters, "cursor": next_cursor})
        if next_cursor
        else "",
    }
    return render(request, Page("audit.html", "audit.title", values), account=account)


CSV_COLUMNS = ("#", "audit.at", "audit.actor", "audit.region", "audit.action", "audit.outcome",
               "audit.object", "audit.client", "audit.detail")  # fmt: skip


def audit_csv(events: list[dict[str, Any]], names: dict[str, str], t: Translate) -> str:
    """UTF-8 with BOM so Excel reads the Chinese (SPEC §5), one row per event, as on the page."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([t(c) if c != "#" else c for c in CSV_COLUMNS])
    for e in events:
        writer.writerow(
            [e["id"], format_time(e["at"]), e["actor"],
             names.get(e["region"], e["region"] or ""), e["action_label"], e["outcome_label"],
             f"{e['object_label']} {e['object_id']}".strip(), e["client"] or "",
             "；".join(f"{label}：{value}" for label, value in e["details"])]
        )  # fmt: skip
    return _CSV_BOM + mask_text(out.getvalue())


@router.get("/audit/export.csv", include_in_schema=False)
def audit_export(
    request: Request,
    account: Account,
    action: ActionParam = "",
    outcome: OutcomeParam = "",
    date_from: DateParam = "",
    date_to: DateParam = "",
) -> Response:
    """What the page's filter finds (up to ``EXPORT_LIMIT`` rows, newest first); audited."""
    caller = account.caller
    require_role(caller, "admin")
    lang = request_language(request)
    wanted = event_filter(caller, action, outcome, date_from, date_to, 0)
    with unit_of_work(request) as session:
        rows = list(audit.newest_events(session, wanted, limit=EXPORT_LIMIT))
        events = _views(session, rows, lang)
        names = regions.names_of(session, [e["region"] for e in events])
        audit.record(
            session,
            audit.entry_for(
                caller,
                "console.audit_export",
                object_type="audit",
                request_id=session.info.get("request_id"),
                detail={"rows": len(rows), **{k: v for k, v in _asked(wanted).items() if v}},
            ),
        )
    body = audit_csv(events, names, translator(lang))
    headers = {
        "Content-Disposition": f'attachment; filename="audit-{caller.region}.csv"',
        "Cache-Control": "no-store",
    }
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)


def _asked(wanted: audit.EventFilter) -> dict[str, str | None]:
    return {
        "action": wanted.action,
        "outcome": wanted.outcome,
        "since": wanted.since.isoformat() if wanted.since else None,
        "until": wanted.until.isoformat() if wanted.until else None,
    }

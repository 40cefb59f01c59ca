"""待办事项: a county clerk's inbox by deadline, with receipt (接收) and answer (反馈) actions.

The actions call the same exchange service functions as the API
(``acknowledge``, ``answer``), so a clerk's click and a county system's
POST leave the same trail.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from exchange_hub.errors import InvalidInput
from exchange_hub.exchange import inbox
from exchange_hub.exchange import service as exchange
from exchange_hub.exchange.hooks import INFLOW_NOTICE_PURPOSE, INFLOW_QUERY_PURPOSE
from exchange_hub.exchange.schemas import FeedbackCreate
from exchange_hub.metrics.freshness import refresh_after_reading
from exchange_hub.regions import service as regions
from exchange_hub.scope import require_role
from exchange_hub.web.pages import common
from exchange_hub.web.render import Page, render
from exchange_hub.web.session import Account, CheckedForm, ConsoleRoute, unit_of_work

router = APIRouter(route_class=ConsoleRoute, dependencies=[Depends(refresh_after_reading)])
PAGE_SIZE = 100
RESULTS = ("found", "not_found", "mismatch", "found_inactive", "multiple_candidates")
DONE = ("received", "answered")


@router.get("/todo", include_in_schema=False)
def todo_page(
    request: Request,
    account: Account,
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """Opening the list pulls the inbox, so what the clerk sees counts as delivered (SPEC §4)."""
    caller = account.caller
    require_role(caller, "county")
    with unit_of_work(request) as session:
        page = inbox.pull_inbox(session, caller, order="deadline", limit=PAGE_SIZE)
        items = [_item(caller, entry.model_dump()) for entry in page.items]
        common.audit_person_data_read(session, caller, [i["id"] for i in items], page="todo")
        names = regions.names_of(session, [caller.region, *(i["from_region"] for i in items)])
    values = {
        "items": items,
        "region_names": names,
        "results": RESULTS,
        "done": done if done in DONE else "",
        "more": page.next_cursor is not None,
    }
    return render(request, Page("todo.html", "nav.todo", values), account=account)


PURPOSE_KEYS = {
    INFLOW_NOTICE_PURPOSE: "todo.purpose.inflow_notice",
    INFLOW_QUERY_PURPOSE: "todo.purpose.inflow_query",
}
"""The hub's own purposes (inflow hooks) are English for the API; the page words them."""


def _item(caller: Any, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **entry,
        "subject": common.subject_for(caller, entry.get("content")),
        "purpose_key": PURPOSE_KEYS.get(entry.get("purpose") or ""),
    }


def _message_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a message id", field="message_id") from exc


@router.post("/todo/{message_id}/receipt", include_in_schema=False)
def acknowledge(
    request: Request, account: Account, message_id: str, _form: CheckedForm
) -> RedirectResponse:
    with unit_of_work(request) as session:
        exchange.acknowledge(session, account.caller, message_id=_message_id(message_id))
    return RedirectResponse("/console/todo?done=received", status_code=303)


@router.post("/todo/{message_id}/answer", include_in_schema=False)
def answer(
    request: Request, account: Account, message_id: str, form: CheckedForm
) -> RedirectResponse:
    feedback = feedback_from_form(form)
    target = _message_id(message_id)
    with unit_of_work(request) as session:
        exchange.answer(session, account.caller, message_id=target, feedback=feedback)
    return RedirectResponse("/console/todo?done=answered", status_code=303)


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _whole_number(text: str | None) -> int | str | None:
    """A form field is text; ``FeedbackCreate`` is strict, so digits are converted
    here and anything else is left for it to refuse, naming the field."""
    return int(text) if text and text.isascii() and text.isdigit() else text


def feedback_from_form(form: FormData) -> FeedbackCreate:
    """The answer form as the API's ``FeedbackCreate``; a bad field is a 422 naming it."""
    result = _text(form, "result")
    difference_field = _text(form, "difference_field")
    differences = None
    if result == "mismatch" and difference_field:
        differences = [
            {
                "field": difference_field,
                "recorded": _text(form, "difference_recorded"),
                "reported": _text(form, "difference_reported"),
            }
        ]
    candidates = (
        _whole_number(_text(form, "candidates")) if result == "multiple_candidates" else None
    )
    try:
        return FeedbackCreate.model_validate(
            {
                "result": result,
                "differences": differences,
                "candidates": candidates,
                "note": _text(form, "note"),
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "result"
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from exc

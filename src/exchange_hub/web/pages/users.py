"""账号管理: the console users of the admin's region, with lock and unlock buttons
(``web/console_users.py``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from exchange_hub.regions import service as regions
from exchange_hub.scope import require_role
from exchange_hub.web import console_users
from exchange_hub.web.render import Page, render
from exchange_hub.web.session import Account, CheckedForm, ConsoleRoute, unit_of_work

router = APIRouter(route_class=ConsoleRoute)
DONE = ("locked", "unlocked")


def _region_names(session: Session, codes: list[str]) -> dict[str, str]:
    return regions.names_of(session, codes)


@router.get("/users", include_in_schema=False)
def users_page(
    request: Request,
    account: Account,
    done: Annotated[str, Query(max_length=20)] = "",
    who: Annotated[str, Query(max_length=64)] = "",
    ended: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> HTMLResponse:
    caller = account.caller
    require_role(caller, "admin")
    with unit_of_work(request) as session:
        entries = console_users.users_in_scope(session, caller)
        names = _region_names(session, [caller.region, *(e.user.region for e in entries)])
        for entry in entries:
            session.expunge(entry.user)
    values = {
        "entries": entries,
        "region_names": names,
        "scope_name": names.get(caller.region, caller.region),
        "me": account.user.id,
        "done": done if done in DONE else "",
        "who": who,
        "ended": ended,
    }
    return render(request, Page("users.html", "users.title", values), account=account)


@router.post("/users/{user_id}/lock", include_in_schema=False)
def lock(
    request: Request, account: Account, _form: CheckedForm, user_id: uuid.UUID
) -> RedirectResponse:
    with unit_of_work(request) as session:
        username, ended = console_users.lock_user(session, account.caller, user_id)
    return RedirectResponse(
        f"/console/users?done=locked&who={username}&ended={ended}", status_code=303
    )


@router.post("/users/{user_id}/unlock", include_in_schema=False)
def unlock(
    request: Request, account: Account, _form: CheckedForm, user_id: uuid.UUID
) -> RedirectResponse:
    with unit_of_work(request) as session:
        username = console_users.unlock_user(session, account.caller, user_id)
    return RedirectResponse(f"/console/users?done=unlocked&who={username}", status_code=303)

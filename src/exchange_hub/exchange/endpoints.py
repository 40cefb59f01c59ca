"""Push endpoints: where the hub pushes a county system's new inbox items (signed).

A county registers its own HTTPS endpoint (``PUT /api/v1/members/me/push-endpoint``);
only hosts on the operator's allowlist, https only (``push_urls``). The
delivery queue (``delivery.py``) reads the endpoint when it sends.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from exchange_hub.config import Settings
from exchange_hub.errors import InvalidInput, NotFound
from exchange_hub.exchange.push_urls import PushUrlError, check_push_url
from exchange_hub.exchange.service import forget_push_members
from exchange_hub.members import service as members
from exchange_hub.models import Member
from exchange_hub.scope import Caller, require_role


def set_push_url(
    session: Session, member_id: uuid.UUID | str, url: str | None, settings: Settings
) -> Member:
    """Register (or remove, with None) a member's push endpoint."""
    member = members.get_member(session, member_id)
    if url is not None:
        try:
            url = check_push_url(url, settings)
        except PushUrlError as exc:
            raise InvalidInput(str(exc), field="url") from exc
    member.push_url = url
    session.flush()
    forget_push_members()
    return member


def set_own_push_url_as(
    session: Session, caller: Caller, url: str | None, settings: Settings
) -> Member:
    """A county system registers (or removes) its own push endpoint; audited."""
    require_role(caller, "county")
    if caller.member_id is None:
        raise NotFound("no member behind this caller", field="member_id")
    member = set_push_url(session, caller.member_id, url, settings)
    members.audit_member_change(session, caller, "member.push_endpoint", member)
    return member

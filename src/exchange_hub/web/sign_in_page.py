"""The sign-in page: the password form (unless local accounts are off) and the identity
provider's button (when one is configured), with the message of a refused sign-in."""

from __future__ import annotations

import secrets

from fastapi import Request, Response

from exchange_hub.deps import hub_context
from exchange_hub.web.i18n import Translate, translator
from exchange_hub.web.render import Page, render, request_language
from exchange_hub.web.session import SIGN_IN_CSRF_COOKIE, safe_next, set_cookie

OIDC_MESSAGES = {
    "state": "sign_in.oidc.state",
    "provider_error": "sign_in.oidc.provider_error",
    "provider_unreachable": "sign_in.oidc.unreachable",
    "discovery": "sign_in.oidc.unreachable",
    "unmapped": "sign_in.oidc.unmapped",
    "role": "sign_in.oidc.unmapped",
    "region": "sign_in.oidc.unmapped",
    "locked": "sign_in.oidc.locked",
}
"""A refused sign-in through the provider and its sentence; any other reason is a token
that did not pass the checks (``sign_in.oidc.token``, with ``sign_in.oidc.why.<reason>``)."""


def message_for(t: Translate, key: str, subject: str) -> str:
    """The sentence of ``key``; ``sign_in.oidc.<reason>`` keys name a refused provider sign-in."""
    if not key.startswith("sign_in.oidc."):
        return t(key) if key else ""
    reason = key.removeprefix("sign_in.oidc.")
    if reason in OIDC_MESSAGES:
        return t(OIDC_MESSAGES[reason], subject=subject)
    return t("sign_in.oidc.token", why=t(f"sign_in.oidc.why.{reason}"))


def sign_in_page(
    request: Request,
    *,
    next: str = "/console",
    username: str = "",
    message_key: str = "",
    status: int = 200,
    subject: str = "",
) -> Response:
    settings = hub_context(request).settings
    t = translator(request_language(request))
    token = secrets.token_urlsafe(32)
    page = Page(
        "sign_in.html",
        "sign_in.title",
        {
            "sign_in_csrf": token,
            "next": safe_next(next),
            "username": username,
            "message": message_for(t, message_key, subject),
            "message_kind": "good" if message_key == "sign_in.signed_out" else "bad",
            "local_accounts": settings.local_accounts,
            "provider": settings.oidc_enabled,
        },
        status_code=status,
    )
    response = render(request, page)
    set_cookie(request, response, SIGN_IN_CSRF_COOKIE, token)
    return response

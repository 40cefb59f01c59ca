"""Which push endpoints the hub will call: HTTPS to a host on the operator's allowlist.

Government intranets are closed networks; the hub must never become a way to
reach arbitrary hosts (SSRF). So: ``https`` only (plain ``http`` only to a
loopback address when ``push_allow_http`` is set, for tests), the host must
be listed in ``push_allowed_hosts`` (exact, case-insensitive), no user info,
no fragment. Redirects are never followed when sending.
"""

from __future__ import annotations

import httpx

from exchange_hub.config import Settings

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class PushUrlError(ValueError):
    """A push endpoint the policy does not allow."""


def check_push_url(url: str, settings: Settings) -> str:
    """The normalised URL, or ``PushUrlError`` saying why it is refused."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise PushUrlError("not a valid URL") from exc
    host = (parsed.host or "").lower()
    if not host or len(url) > 500:
        raise PushUrlError("a push URL is an absolute https URL of at most 500 characters")
    if parsed.scheme == "http":
        if not (settings.push_allow_http and host in LOOPBACK):
            raise PushUrlError("push endpoints must use https")
    elif parsed.scheme != "https":
        raise PushUrlError("push endpoints must use https")
    if parsed.userinfo or parsed.fragment:
        raise PushUrlError("a push URL carries no user info and no fragment")
    allowed = {h.lower() for h in settings.push_allowed_hosts}
    if host not in allowed:
        raise PushUrlError(f"host {host} is not on the operator's push allowlist")
    return str(parsed)

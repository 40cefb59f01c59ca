"""The console's OpenID Connect client (统一身份认证): authorization code with PKCE.

Authlib's Starlette client runs the flow: the provider's discovery document,
``state``, ``nonce``, the PKCE verifier (S256), the code exchange, userinfo and
the end-session URL (RP-initiated logout). Authlib keeps what it needs between
the redirect and the callback in ``request.session``; the console has no such
cookie session, so ``begin`` hands that dictionary to the caller (which stores
it server-side, keyed by a cookie of the browser) and ``finish`` is given it
back. The ID token is checked with ``joserfc``: signature against the
provider's JWKS (fetched again once when the key id is unknown, so a rotated
key is picked up), ``iss`` = the configured issuer, ``aud`` holding our client
id, ``exp``/``iat`` against the hub's clock (``exchange_hub.clock``, so tests
and libfaketime agree with the provider), ``nonce`` = the one sent.

Every failure becomes a ``ProviderRefused`` with a short ``reason`` that the
sign-in page explains and the audit trail records.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from starlette.requests import Request

from exchange_hub import clock
from exchange_hub.config import Settings

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 fork and warns when it falls back to httpx, the hub's
    # HTTP client (its module forces such warnings on, so they are silenced here only).
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.base_client.errors import MismatchingStateError
    from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App

CALLBACK_PATH = "/console/oidc/callback"
SIGNED_OUT_PATH = "/console/sign-in?signed_out=1"
CLAIM_REASONS = {
    "iss": "issuer",
    "aud": "audience",
    "azp": "audience",
    "nonce": "nonce",
    "exp": "expired",
    "iat": "issued_at",
    "nbf": "issued_at",
    "sub": "subject",
}
"""The reason a refused claim is recorded under."""


class ProviderRefused(Exception):
    """A sign-in through the provider that the console does not accept.

    ``reason`` is one of: state, provider_error, provider_unreachable, token_request,
    signing_key, signature, token, issuer, audience, nonce, expired, issued_at, subject,
    userinfo, discovery.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _now() -> int:
    return int(clock.now().timestamp())


class ProviderApp(StarletteOAuth2App):  # type: ignore[misc]
    """Authlib's Starlette client with the ID token checked by joserfc against the hub's clock."""

    issuer: str = ""
    leeway: int = 60

    async def parse_id_token(
        self, token: Mapping[str, Any], nonce: str, **_ignored: Any
    ) -> dict[str, Any]:
        metadata = await self.load_server_metadata()
        algorithms = [
            alg
            for alg in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
            if alg != "none"
        ]
        registry = JWSRegistry(algorithms=algorithms)
        raw = token["id_token"]
        try:
            keys = KeySet.import_key_set(await self.fetch_jwk_set())
            try:
                decoded = jwt.decode(raw, keys, algorithms=algorithms, registry=registry)
            except InvalidKeyIdError:
                # an unknown key id: the provider may have rotated its keys since we fetched
                keys = KeySet.import_key_set(await self.fetch_jwk_set(force=True))
                decoded = jwt.decode(raw, keys, algorithms=algorithms, registry=registry)
            self._claims_registry(nonce).validate(decoded.claims)
        except InvalidKeyIdError as exc:
            raise ProviderRefused("signing_key", "ID token signed with an unknown key") from exc
        except BadSignatureError as exc:
            raise ProviderRefused("signature", "ID token signature does not verify") from exc
        except ExpiredTokenError as exc:
            raise ProviderRefused("expired", "ID token expired") from exc
        except ClaimError as exc:
            reason = CLAIM_REASONS.get(exc.claim, "token")
            raise ProviderRefused(reason, f"ID token claim {exc.claim}: {exc}") from exc
        except (JoseError, ValueError) as exc:
            raise ProviderRefused("token", f"ID token unreadable: {exc}") from exc
        return dict(decoded.claims)

    def _claims_registry(self, nonce: str) -> jwt.JWTClaimsRegistry:
        """OpenID Connect Core §3.1.3.7: the checks of an ID token received from the token
        endpoint (``azp``, when present, must be us too)."""
        return jwt.JWTClaimsRegistry(
            now=_now,
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": self.client_id},
            azp={"essential": False, "value": self.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )


class _Registry(OAuth):  # type: ignore[misc]
    oauth2_client_cls = ProviderApp


def build_client(settings: Settings) -> ProviderApp | None:
    """The provider's client for ``settings``, or None when no issuer is configured.

    Raises ``ValueError`` on an incomplete configuration (the hub then does not start).
    """
    if not settings.oidc_enabled:
        return None
    issuer = settings.oidc_issuer.rstrip("/")
    secret = settings.resolved_oidc_client_secret
    if not settings.oidc_client_id or not secret:
        raise ValueError(
            "HUB_OIDC_ISSUER needs HUB_OIDC_CLIENT_ID and HUB_OIDC_CLIENT_SECRET (or _FILE)"
        )
    scopes = settings.oidc_scopes.split()
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    client: ProviderApp = _Registry().register(
        name="provider",
        client_id=settings.oidc_client_id,
        client_secret=secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": " ".join(scopes), "code_challenge_method": "S256", "timeout": 10},
    )
    client.issuer = settings.oidc_issuer
    client.leeway = settings.oidc_leeway_seconds
    return client


def callback_url(request: Request, settings: Settings) -> str:
    if settings.oidc_redirect_uri:
        return settings.oidc_redirect_uri
    return f"{str(request.base_url).rstrip('/')}{CALLBACK_PATH}"


async def _checked_metadata(client: ProviderApp) -> dict[str, Any]:
    """The discovery document, which must name the configured issuer (Discovery §4.3)."""
    try:
        metadata: dict[str, Any] = await client.load_server_metadata()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderRefused("provider_unreachable", f"discovery: {exc}") from exc
    if metadata.get("issuer") != client.issuer:
        client.server_metadata.clear()  # read it again next time
        raise ProviderRefused(
            "discovery", f"discovery names issuer {metadata.get('issuer')!r}, not ours"
        )
    return metadata


async def begin(
    client: ProviderApp, request: Request, redirect_uri: str
) -> tuple[str, dict[str, Any]]:
    """The provider's authorization URL, and the client state to keep until the callback."""
    await _checked_metadata(client)
    request.scope["session"] = {}
    try:
        response = await client.authorize_redirect(request, redirect_uri)
    except httpx.HTTPError as exc:
        raise ProviderRefused("provider_unreachable", str(exc)) from exc
    return str(response.headers["location"]), dict(request.scope["session"])


async def finish(
    client: ProviderApp, request: Request, client_state: dict[str, Any], *, wanted: tuple[str, ...]
) -> dict[str, Any]:
    """The checked ID token's claims after the callback, completed from userinfo with the
    ``wanted`` claims the ID token lacks (OpenID Connect Core §5.3.2: same ``sub``)."""
    await _checked_metadata(client)
    request.scope["session"] = client_state
    try:
        token = await client.authorize_access_token(request)
    except MismatchingStateError as exc:
        raise ProviderRefused("state", "state unknown, used, or from another browser") from exc
    except OAuthError as exc:
        reason = "provider_error" if request.query_params.get("error") else "token_request"
        raise ProviderRefused(reason, f"{exc.error}: {exc.description or ''}"[:200]) from exc
    except httpx.HTTPError as exc:
        raise ProviderRefused("provider_unreachable", str(exc)) from exc
    claims: dict[str, Any] | None = token.get("userinfo")
    if not claims:
        raise ProviderRefused("token", "the token response carried no ID token")
    missing = [name for name in wanted if name and name not in claims]
    if missing:
        claims = {**(await _userinfo(client, token, claims["sub"])), **claims}
    return claims


async def _userinfo(client: ProviderApp, token: dict[str, Any], subject: str) -> dict[str, Any]:
    try:
        info = dict(await client.userinfo(token=token))
    except (httpx.HTTPError, OAuthError, ValueError) as exc:
        raise ProviderRefused("userinfo", f"userinfo: {exc}") from exc
    if info.get("sub") != subject:
        raise ProviderRefused("userinfo", "userinfo names another subject")
    return info


async def logout_url(client: ProviderApp, request: Request) -> str | None:
    """The provider's end-session URL that returns to the sign-in page (RP-Initiated Logout
    1.0, with ``client_id``: the console keeps no ID token), or None without one."""
    try:
        metadata = await client.load_server_metadata()
    except (httpx.HTTPError, ValueError):
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    back = f"{str(request.base_url).rstrip('/')}{SIGNED_OUT_PATH}"
    result = await client.create_logout_url(
        post_logout_redirect_uri=back, client_id=client.client_id
    )
    return str(result["url"])

"""Settings: the one place that reads the environment (prefix ``HUB_``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set. See ``deploy/hub.env.sample`` for each one explained."""

    model_config = SettingsConfigDict(env_prefix="HUB_", env_file=None, extra="ignore")

    data_dir: Path = Path("var")
    database_url: str = ""
    """``sqlite:///path`` or ``postgresql://user@host/db``; empty means ``<data_dir>/hub.db``."""
    read_database_url: str = ""
    """Optional read replica for figures; empty means the primary."""
    database_pooler: Literal["none", "transaction"] = "none"
    """``transaction`` when the database URLs lead to PgBouncer in transaction pooling mode:
    no server-side prepared statements (each transaction may run on another server
    connection). The hub keeps no other session state (advisory locks and ``SET LOCAL``
    are transaction-scoped, no ``LISTEN``)."""
    direct_database_url: str = ""
    """The primary reached directly, not through the pooler: ``exchange-hub migrate`` connects
    here (its advisory lock and DDL need one server connection). Empty: ``database_url``,
    which must then be direct (``database_pooler`` ``none``)."""
    keys_file: Path | None = None
    """JSON key ring; empty means ``<data_dir>/keys.json``, generated on first use."""
    generate_dev_keys: bool = True
    """Create a development key ring when ``keys_file`` does not exist."""
    crypto_profile: Literal["international", "national"] = "international"
    """The algorithms new data is written with: ``international`` (AES-256-GCM,
    HMAC-SHA256, Ed25519) or ``national`` (SM4-GCM, HMAC-SM3, SM2 — GB/T 39786-2021).
    Both are read whatever is set; changing it is a migration (``keys rotate --profile``)."""

    id_policy: Literal["lenient", "strict"] = "lenient"
    signature_window_seconds: int = 300
    max_body_bytes: int = 1_048_576
    max_batch_bytes: int = 2_147_483_648
    ingest_workers: int | None = None
    """Processes that check batch lines (validation, encryption); empty: CPUs - 1, 0: none."""
    max_page_size: int = 500
    timezone: str = "Asia/Shanghai"

    deadline_days_urgent: int = 15
    deadline_days_normal: int = 30
    deadline_days_certificate: int = 7
    deadline_days_notification: int = 30
    report_due_day: int = 3
    report_catalogue_file: Path | None = None
    """TOML file that extends or overrides the bundled report types (reports/catalogue.toml)."""

    push_allowed_hosts: list[str] = Field(default_factory=list)
    push_timeout_seconds: float = 10.0
    push_retry_window_seconds: int = 86_400
    push_allow_http: bool = False
    """Only for tests on loopback; production pushes are HTTPS."""
    push_retry_base_seconds: float = 30.0
    """First retry delay of a failed push; doubles per attempt (with jitter)."""
    push_retry_cap_seconds: float = 3_600.0
    push_lease_seconds: int = 120
    """How long a worker holds a claimed push before another may take it over."""
    push_batch_size: int = 50
    worker_interval_seconds: float = 5.0

    rate_limit_per_minute: int = 6_000
    """Requests a member may make per minute; beyond: 429 (``ratelimits``)."""
    redis_url: str = ""
    """``redis://host:6379/0``: the rate limits live in Redis, shared by every node. Empty:
    in a PostgreSQL table shared by every node, or (SQLite) in the one process's memory."""
    auth_failure_limit: int = Field(30, ge=1)
    """Failed authentications a client address may make per interval; beyond: 429."""
    auth_failure_interval_seconds: int = Field(300, ge=1)
    """The interval of ``auth_failure_limit``, and of the audit trail's failure counts
    (the first failure of a kind is audited at once, the rest as one row with a count)."""
    metrics_token: str = ""
    """Bearer token for Prometheus scrapes of ``/metrics`` (admin API keys work too)."""
    figures_refresh_overlap_seconds: int = 300
    """How far behind its watermark the exchange-figures refresh re-reads (late commits)."""
    figures_refresh_after_seconds: int = Field(60, ge=1)
    """A figures read that finds changes older than this not yet folded into the aggregates
    runs one refresh after its answer (figures are exact either way; this keeps reads short
    where no worker runs ``metrics.refresh``)."""
    audit_retention_days: int = 190
    message_body_retention_days: dict[str, int] = Field(
        default_factory=lambda: {"query": 730, "notification": 365}
    )
    """Days after submission that a closed message's person data is kept, per kind (0: always)."""
    idempotency_answer_days: int = Field(30, ge=1)
    """Days a write's stored answer (person data, encrypted) is kept for replays under its
    ``Idempotency-Key``; afterwards the key still refuses to run twice (409), it no
    longer replays the answer (job ``idempotency.expire_answers``)."""
    log_json: bool = True
    session_idle_minutes: int = 30
    secure_cookies: bool | None = None
    """Console cookies carry Secure (sent over HTTPS only). Empty: true, except on the
    embedded development database (no ``database_url``: ``./dev run`` on http://127.0.0.1)."""

    local_accounts: bool = True
    """Console sign-in with a user name and password. ``false`` once everyone signs in
    through the identity provider (``oidc_issuer``): the password form is gone."""
    oidc_issuer: str = ""
    """The identity provider (统一身份认证平台) the console signs in through, by its OpenID
    Connect issuer URL (its discovery document is ``<issuer>/.well-known/openid-configuration``).
    Empty: no such sign-in."""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_client_secret_file: Path | None = None
    """A file whose first line is the client secret (instead of ``oidc_client_secret``)."""
    oidc_scopes: str = "openid profile"
    """Scopes asked for, separated by spaces; ``openid`` is always among them."""
    oidc_redirect_uri: str = ""
    """The console's callback as registered at the provider; empty: taken from the request
    (``https://<host>/console/oidc/callback``)."""
    oidc_role_claim: str = ""
    """Claim naming the console role (``county`` or ``admin``) of a person with no linked
    account; empty: only linked accounts (``exchange-hub users link``) sign in."""
    oidc_region_claim: str = ""
    """Claim holding the 6-digit region code of that person."""
    oidc_allowed_roles: list[str] = Field(default_factory=lambda: ["county"])
    """Roles the claim mapping may give; ``admin`` only when listed."""
    oidc_allowed_regions: list[str] = Field(default_factory=list)
    """Regions the claim mapping may give: a claimed region must lie inside one of them."""
    oidc_leeway_seconds: int = Field(60, ge=0, le=300)
    """Clock skew allowed between the provider and the hub when checking token times."""

    @field_validator("ingest_workers", "secure_cookies", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return bool(self.database_url)

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @property
    def resolved_oidc_client_secret(self) -> str:
        """The client secret, from ``oidc_client_secret_file`` when given (first line)."""
        if self.oidc_client_secret_file is not None:
            lines = self.oidc_client_secret_file.read_text("utf-8").splitlines()
            return lines[0].strip() if lines else ""
        return self.oidc_client_secret.get_secret_value()

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hub.db').as_posix()}"

    @property
    def migration_database_url(self) -> str:
        """Where migrations run: the direct URL, else the database URL when it is not pooled."""
        if self.direct_database_url:
            return self.direct_database_url
        if self.database_pooler == "transaction":
            raise ValueError(
                "HUB_DATABASE_POOLER=transaction: set HUB_DIRECT_DATABASE_URL to the primary "
                "itself (migrations do not run through PgBouncer)"
            )
        return self.resolved_database_url

    @cached_property
    def resolved_keys_file(self) -> Path:
        return self.keys_file or self.data_dir / "keys.json"

"""A real OpenID Connect provider for the console's tests: ``tests/web/oidc/provider.mjs``
(node-oidc-provider, version pinned by ``tests/web/oidc/package-lock.json``) under Debian's
Node, on 127.0.0.1.

The process inherits the test's environment, so under CI's libfaketime runs the provider's
clock is moved like the hub's (their token times agree). Signing keys are made here
(joserfc) and handed to the provider; ``rotate_keys`` restarts it with new ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import RSAKey

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
SCRIPT = PROVIDER_DIR / "provider.mjs"
CLIENT_ID = "exchange-hub-console"
CLIENT_SECRET = "tests-only-client-secret-0123456789abcdef"
START_SECONDS = 30


def node() -> str | None:
    return shutil.which("node")


def installed() -> bool:
    return (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists()


def signing_key(kid: str) -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return dict(key.as_dict(private=True))


class OidcProvider:
    """One provider process on ``port``; ``accounts`` maps ``sub`` to its claims."""

    def __init__(self, workdir: Path, port: int, hub_url: str, accounts: dict[str, Any]) -> None:
        self.workdir = workdir
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.hub_url = hub_url
        self.accounts = accounts
        self.keys = [signing_key("key-1")]
        self.generation = 1
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "provider.log"

    def _config(self) -> Path:
        config = {
            "port": self.port,
            "issuer": self.issuer,
            "client": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{self.hub_url}/console/oidc/callback"],
                "post_logout_redirect_uris": [f"{self.hub_url}/console/sign-in?signed_out=1"],
            },
            "accounts": self.accounts,
            "keys": self.keys,
        }
        path = self.workdir / f"provider-{self.generation}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    def start(self) -> None:
        executable = node()
        assert executable, "node is not installed"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [executable, str(SCRIPT), str(self._config())],
                cwd=PROVIDER_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NODE_ENV": "test"},
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text("utf-8", "replace")
            try:
                answer = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the provider did not start: {self.log.read_text('utf-8')}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def rotate_keys(self) -> None:
        """Restart with a new signing key only: tokens signed before are no longer valid."""
        self.stop()
        self.generation += 1
        self.keys = [signing_key(f"key-{self.generation}")]
        self.start()

    def next_id_token(self, mode: str) -> None:
        """The next token response carries an ID token changed by ``mode`` (provider.mjs)."""
        answer = httpx.post(f"{self.issuer}/__test/next-id-token", params={"mode": mode})
        assert answer.status_code == 200, answer.text

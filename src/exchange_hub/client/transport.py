"""One request to the hub, done dependably: signed, idempotent, retried, typed errors.

Retries (429, 503 and other 5xx, connection errors and timeouts, a 409 that says
to come back — an ``Idempotency-Key`` still in flight, a county's batch running)
wait what ``Retry-After`` says, or else a jittered exponential back-off ("full
jitter": a random wait up to ``base·2ⁿ``, at most ``cap``), until the call's
``deadline``; then the last refusal (or ``HubUnreachable``) is raised. A write
always carries an ``Idempotency-Key`` and keeps it across its retries, so a
request whose answer was lost is never applied twice; a signed request is signed
again for each attempt (a fresh timestamp), and one the hub calls a replay (the same
request signed in the same second by another process) is signed again a second on.

Time comes from ``RetryPolicy``: ``monotonic``, ``sleep`` and ``random`` are
injectable, so tests run in no time and never depend on the date.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from exchange_hub import clock
from exchange_hub.client.errors import HubUnreachable, UnexpectedAnswer, refusal
from exchange_hub.client.signing import RequestSigner, body_digest

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
UPLOAD_CHUNK = 1 << 18  # 256 KiB read and sent at a time


@dataclass
class RetryPolicy:
    """How long one call may take in all, and how to wait between attempts."""

    deadline: float = 300.0
    base: float = 0.5
    cap: float = 30.0
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def backoff(self, attempt: int) -> float:
        # The exponent stops growing long after the cap is reached: 2 ** 1024 is no float,
        # and a day's deadline of one-second Retry-Afters makes thousands of attempts.
        return float(self.random() * min(self.cap, self.base * 2 ** min(attempt - 1, 64)))

    def wait_for(self, response: httpx.Response | None, attempt: int) -> float:
        """Retry-After when the hub gave one (never sooner), else the back-off."""
        told = retry_after_seconds(response.headers.get("Retry-After")) if response else None
        jitter = self.backoff(attempt)
        return jitter if told is None else told + min(jitter, 0.1 * told)


def retry_after_seconds(value: str | None) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - clock.now()).total_seconds())


@dataclass(frozen=True)
class Upload:
    """A body read from a file for each attempt (batches: never held in memory)."""

    path: Path
    size: int
    digest: str

    @classmethod
    def of(cls, path: Path) -> Upload:
        hasher = hashlib.sha256()
        size = 0
        with path.open("rb") as source:
            while chunk := source.read(UPLOAD_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        return cls(path, size, hasher.hexdigest())

    def chunks(self, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
        sent = 0
        with self.path.open("rb") as source:
            while chunk := source.read(UPLOAD_CHUNK):
                sent += len(chunk)
                if progress:
                    progress(sent)
                yield chunk


@dataclass
class Call:
    """One logical call: what is sent on each attempt."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    body: bytes | None = None
    upload: Upload | None = None
    content_type: str | None = None
    idempotency_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    progress: Callable[[int], None] | None = None  # bytes of the upload sent so far


class Transport:
    """Sends ``Call``s to one hub with one API key (and signer, if the member signs)."""

    def __init__(
        self, base_url: str, api_key: str, *, signer: RequestSigner | None = None,
        retry: RetryPolicy | None = None, timeout: float = 120.0,
        http: httpx.Client | None = None, hooks: dict[str, Callable[..., None]] | None = None,
    ) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.signer, self.retry = signer, retry or RetryPolicy()
        self.http = http or httpx.Client(timeout=timeout)
        self.api_key = api_key
        self.hooks = hooks or {}  # fault injection for tests: "before_send", "after_send"

    def close(self) -> None:
        self.http.close()

    def send(self, call: Call) -> httpx.Response:
        if call.method in WRITES and call.idempotency_key is None:
            call.idempotency_key = str(uuid.uuid4())
        started, attempt, replays = self.retry.monotonic(), 0, 0
        while True:
            attempt += 1
            response, cause = self._attempt(call)
            if self.signer and response is not None and _replayed(response) and replays < 5:
                # Another process (last night's run, a second agent) signed this same request
                # in this same second; the hub refused it unseen: sign again, a second later.
                replays += 1
                continue
            if response is not None and not _retryable(response):
                if response.is_success:
                    return response
                raise refusal(response)
            wait = self.retry.wait_for(response, attempt)
            if self.retry.monotonic() + wait - started > self.retry.deadline:
                if response is not None:
                    raise refusal(response)
                raise HubUnreachable(self.base_url, cause, attempt)
            self.retry.sleep(wait)

    def _attempt(self, call: Call) -> tuple[httpx.Response | None, str]:
        request = self._request(call)
        try:
            if hook := self.hooks.get("before_send"):
                hook(call)
            response = self.http.send(request)
            if hook := self.hooks.get("after_send"):
                hook(call, response)
        except httpx.TransportError as exc:  # refused, reset, timed out, cut short
            return None, f"{type(exc).__name__}: {exc}"
        return response, ""

    def _request(self, call: Call) -> httpx.Request:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        headers |= call.headers
        if call.content_type:
            headers["Content-Type"] = call.content_type
        if call.idempotency_key:
            headers["Idempotency-Key"] = call.idempotency_key
        content: bytes | Iterator[bytes] | None = call.body
        digest = body_digest(call.body or b"")
        if call.upload is not None:
            content, digest = call.upload.chunks(call.progress), call.upload.digest
            headers["Content-Length"] = str(call.upload.size)
        params = {k: v for k, v in (call.params or {}).items() if v is not None}
        request = self.http.build_request(
            call.method, self.base_url + call.path, params=params or None,
            content=content, headers=headers,
        )  # fmt: skip
        if self.signer is not None:
            path_qs = request.url.raw_path.decode("ascii")
            request.headers.update(self.signer.headers(call.method, path_qs, digest))
        return request


def _replayed(response: httpx.Response) -> bool:
    return response.status_code == 401 and _problem(response).get("detail") == "signature replayed"


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        problem = response.json()
    except ValueError:
        return {}
    return problem if isinstance(problem, dict) else {}


def _retryable(response: httpx.Response) -> bool:
    if response.status_code in RETRIED_STATUSES:
        return True
    if response.status_code != 409:
        return False
    if "Retry-After" in response.headers:  # a county's batch is running: come back later
        return True
    problem = _problem(response)
    return problem.get("field") == "Idempotency-Key" and "in progress" in str(
        problem.get("detail", "")
    )


def read_model(response: httpx.Response, model: Any) -> Any:
    """The answer as the hub's own response model (``UnexpectedAnswer`` if it is not one:
    a proxy's login page, a hub of another version)."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise UnexpectedAnswer(str(response.request.url.path), model.__name__, exc) from None

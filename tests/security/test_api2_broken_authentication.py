"""OWASP API2:2023 Broken Authentication (issue 15, findings 1 and 8).

Finding 1: a signed request sent again with its signature re-encoded (padding
appended, the standard alphabet, other unused trailing bits, whitespace) was
accepted as new. A replay is the same signed content however it is encoded
(SPEC §7): the header decodes strictly, and replay detection keys on what was
signed. Finding 8: with two ``Authorization`` headers the first one won.

Every test that signs takes its timestamp from the hub's clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange_hub import clock as hub_clock
from exchange_hub import crypto
from exchange_hub.context import HubContext
from exchange_hub.deps import signing_string
from exchange_hub.models import Message
from tests.exchange.helpers import id_number, query_body
from tests.fixtures.hub import MemberKey, make_member
from tests.records.factories import id_number as record_id_number
from tests.records.factories import outflow

MESSAGES = "/api/v1/messages"
BATCH = "/api/v1/records/batch"
REGIONS = "/api/v1/regions?parent=110100"
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493  # RFC 8032's L


@pytest.fixture
def keypair() -> tuple[str, str]:
    return crypto.generate_member_keypair()


@pytest.fixture
def signer(hub: HubContext, keypair: tuple[str, str]) -> MemberKey:
    """Shenzhen Nanshan (440305), which signs its requests."""
    return make_member(hub, role="county", region="440305", public_key=keypair[1])


@pytest.fixture
def addressee(hub: HubContext) -> MemberKey:
    return make_member(hub, role="county", region="110105")


def signed(
    member: MemberKey, private: str, method: str, path_qs: str, body: bytes = b"", **extra: Any
) -> dict[str, str]:
    """Headers of a request signed now (the hub's clock), or at ``ts=``."""
    ts = extra.pop("ts", None)
    timestamp = str(int(hub_clock.unix_seconds()) if ts is None else ts)
    payload = signing_string(method, path_qs, timestamp, hashlib.sha256(body).hexdigest())
    return {
        **member.headers,
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature": crypto.sign_with_private_key(private, payload),
        **extra,
    }


def message_body(attempt: int = 0) -> bytes:
    body = query_body(to_region="110105", subject_id=id_number("110105"))
    body["purpose"] = f"verify household registration, attempt {attempt}"
    return json.dumps(body).encode()


def signed_message(
    member: MemberKey, private: str, wanted: Callable[[str], bool] = lambda _: True
) -> tuple[bytes, dict[str, str]]:
    """A message body and its signed headers, the signature text satisfying ``wanted``
    (Ed25519 is deterministic: the body is varied until it does)."""
    for attempt in range(200):
        body = message_body(attempt)
        headers = signed(member, private, "POST", MESSAGES, body)
        if wanted(headers["X-Hub-Signature"]):
            return body, {**headers, "Content-Type": "application/json"}
    raise AssertionError("no signature of the wanted shape")


def messages(hub: HubContext) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(Message)) or 0


def raw(signature: str) -> bytes:
    return base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))


def other_trailing_bits(signature: str) -> str:
    """The same bytes, with the unused low bits of the last character set differently."""
    last = URLSAFE.index(signature[-1])
    return signature[:-1] + URLSAFE[last ^ 0b0001]


def has_url_characters(signature: str) -> bool:
    return "-" in signature or "_" in signature


RE_ENCODINGS: dict[str, Callable[[str], str]] = {
    "padding appended": lambda s: s + "==",
    "one padding character": lambda s: s + "=",
    "standard alphabet": lambda s: s.translate(str.maketrans("-_", "+/")),
    "standard base64 with padding": lambda s: base64.b64encode(raw(s)).decode(),
    "base64url with padding": lambda s: base64.urlsafe_b64encode(raw(s)).decode(),
    "other trailing bits": other_trailing_bits,
    "space inside": lambda s: s[:43] + " " + s[43:],
    "tab inside": lambda s: s[:43] + "\t" + s[43:],
    "leading space": lambda s: " " + s,
    "trailing dot": lambda s: s + ".",
}


# -- finding 1: a replay is the same signed content, however it is encoded ------------
@pytest.mark.parametrize("encoding", sorted(RE_ENCODINGS))
def test_a_re_encoded_signature_is_still_a_replay(
    client: TestClient, hub: HubContext, signer: MemberKey, addressee: MemberKey,
    keypair: tuple[str, str], encoding: str,
) -> None:  # fmt: skip
    body, headers = signed_message(signer, keypair[0], has_url_characters)
    assert client.post(MESSAGES, content=body, headers=headers).status_code == 201
    variant = RE_ENCODINGS[encoding](headers["X-Hub-Signature"])
    assert variant != headers["X-Hub-Signature"]
    replay = client.post(MESSAGES, content=body, headers={**headers, "X-Hub-Signature": variant})
    assert replay.status_code == 401, replay.text
    assert replay.headers["content-type"].startswith("application/problem+json")
    assert replay.json()["field"] == "X-Hub-Signature"
    assert messages(hub) == 1


@pytest.mark.parametrize("encoding", sorted(RE_ENCODINGS))
def test_only_the_canonical_encoding_is_accepted_even_the_first_time(
    client: TestClient, hub: HubContext, signer: MemberKey, addressee: MemberKey,
    keypair: tuple[str, str], encoding: str,
) -> None:  # fmt: skip
    """Unpadded base64url (RFC 4648 §5) is the one form; a refused form does not use up
    the request: the canonical one is accepted afterwards."""
    body, headers = signed_message(signer, keypair[0], has_url_characters)
    variant = RE_ENCODINGS[encoding](headers["X-Hub-Signature"])
    refused = client.post(MESSAGES, content=body, headers={**headers, "X-Hub-Signature": variant})
    assert refused.status_code == 401
    assert refused.json()["field"] == "X-Hub-Signature"
    assert client.post(MESSAGES, content=body, headers=headers).status_code == 201


@pytest.mark.parametrize("size", [0, 32, 63, 65, 96])
def test_a_signature_of_the_wrong_length_is_refused(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str], size: int
) -> None:
    headers = signed(signer, keypair[0], "GET", REGIONS)
    headers["X-Hub-Signature"] = base64.urlsafe_b64encode(b"\x07" * size).decode().rstrip("=")
    response = client.get(REGIONS, headers=headers)
    assert response.status_code == 401
    assert response.json()["field"] == "X-Hub-Signature"


def test_a_different_valid_looking_signature_of_the_same_length_is_refused(
    client: TestClient, hub: HubContext, signer: MemberKey, addressee: MemberKey,
    keypair: tuple[str, str],
) -> None:  # fmt: skip
    """``S + L`` (the malleable form of an Ed25519 signature) and random bytes, both
    canonical base64url of 64 bytes: neither creates a second message."""
    body, headers = signed_message(signer, keypair[0])
    assert client.post(MESSAGES, content=body, headers=headers).status_code == 201
    signature = raw(headers["X-Hub-Signature"])
    s = int.from_bytes(signature[32:], "little") + ED25519_ORDER
    malleable = signature[:32] + s.to_bytes(32, "little")
    for forged in (malleable, hashlib.sha512(signature).digest()):
        text = base64.urlsafe_b64encode(forged).decode().rstrip("=")
        replay = client.post(MESSAGES, content=body, headers={**headers, "X-Hub-Signature": text})
        assert replay.status_code == 401, replay.text
        assert replay.json()["field"] == "X-Hub-Signature"
    assert messages(hub) == 1


def test_a_second_valid_signature_over_the_same_content_is_a_replay(
    client: TestClient, hub: HubContext, signer: MemberKey, addressee: MemberKey,
    keypair: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Schemes that sign with a random nonce (SM2, ECDSA) give many valid signatures
    of one request: replay detection keys on what was signed, not on the signature."""
    monkeypatch.setattr(crypto, "verify_ed25519", lambda *_: True)
    body, headers = signed_message(signer, keypair[0])
    for n, signature in enumerate((b"\x01" * 64, b"\x02" * 64)):
        text = base64.urlsafe_b64encode(signature).decode().rstrip("=")
        response = client.post(MESSAGES, content=body, headers={**headers, "X-Hub-Signature": text})
        assert response.status_code == (201 if n == 0 else 401), response.text
    assert response.json()["detail"] == "signature replayed"
    assert messages(hub) == 1


def test_a_re_encoded_signature_on_a_batch_is_a_replay(
    client: TestClient, hub: HubContext, signer: MemberKey, keypair: tuple[str, str]
) -> None:
    line = outflow(record_id_number("440305"), county="440305", residence_region="110105")
    content = (json.dumps(line, ensure_ascii=False) + "\n").encode()
    headers = {**signed(signer, keypair[0], "POST", BATCH, content),
               "Content-Type": "application/x-ndjson"}  # fmt: skip
    first = client.post(BATCH, content=content, headers=headers)
    assert first.status_code == 200 and first.json()["accepted"] == 1, first.text
    for encoding in ("padding appended", "standard alphabet", "other trailing bits"):
        variant = RE_ENCODINGS[encoding](headers["X-Hub-Signature"])
        if variant == headers["X-Hub-Signature"]:
            continue  # no "-" or "_" in this signature
        replay = client.post(
            BATCH, content=content, headers={**headers, "X-Hub-Signature": variant}
        )
        assert replay.status_code == 401, (encoding, replay.text)
        assert replay.json()["field"] == "X-Hub-Signature"
    replay = client.post(BATCH, content=content, headers=headers)
    assert replay.status_code == 401 and replay.json()["detail"] == "signature replayed"


def test_a_re_encoded_signature_on_a_get_with_a_query_is_a_replay(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str]
) -> None:
    headers = signed(signer, keypair[0], "GET", REGIONS)
    assert client.get(REGIONS, headers=headers).status_code == 200
    for encoding in ("padding appended", "other trailing bits", "space inside"):
        variant = RE_ENCODINGS[encoding](headers["X-Hub-Signature"])
        replay = client.get(REGIONS, headers={**headers, "X-Hub-Signature": variant})
        assert replay.status_code == 401, (encoding, replay.text)
    replay = client.get(REGIONS, headers=headers)
    assert replay.status_code == 401 and replay.json()["detail"] == "signature replayed"


def test_the_same_query_in_another_order_is_other_content(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str]
) -> None:
    """The query is signed as sent: reordering it is a different request, which the
    old signature does not cover."""
    path = "/api/v1/regions?parent=110100&limit=5"
    headers = signed(signer, keypair[0], "GET", path)
    assert client.get(path, headers=headers).status_code == 200
    reordered = client.get("/api/v1/regions?limit=5&parent=110100", headers=headers)
    assert reordered.status_code == 401
    assert reordered.json()["detail"] == "signature does not verify"


# -- the replay window's edges ---------------------------------------------------------
@pytest.fixture
def frozen(clock: hub_clock.Clock) -> hub_clock.Clock:
    clock.pin(datetime(2026, 11, 24, 2, 0, tzinfo=UTC), tick=False)
    return clock


@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_at_the_window_edge_is_accepted_once(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str], frozen: hub_clock.Clock,
    offset: int,
) -> None:  # fmt: skip
    headers = signed(signer, keypair[0], "GET", REGIONS, ts=int(frozen.now().timestamp()) + offset)
    assert client.get(REGIONS, headers=headers).status_code == 200
    replay = client.get(REGIONS, headers=headers)
    assert replay.status_code == 401 and replay.json()["detail"] == "signature replayed"


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_past_the_window_edge_is_refused(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str], frozen: hub_clock.Clock,
    offset: int,
) -> None:  # fmt: skip
    headers = signed(signer, keypair[0], "GET", REGIONS, ts=int(frozen.now().timestamp()) + offset)
    response = client.get(REGIONS, headers=headers)
    assert response.status_code == 401
    assert response.json()["field"] == "X-Hub-Timestamp"
    assert "window" in response.json()["detail"]


def test_a_replay_stays_refused_while_its_timestamp_is_in_the_window(
    client: TestClient, hub: HubContext, signer: MemberKey, keypair: tuple[str, str],
    frozen: hub_clock.Clock,
) -> None:  # fmt: skip
    """Signed 300 s ahead, accepted now: usable until now + 600 s, and the purge job
    keeps what it needs for exactly that long."""
    from exchange_hub.exchange.tasks import purge_seen_signatures

    headers = signed(signer, keypair[0], "GET", REGIONS, ts=int(frozen.now().timestamp()) + 300)
    assert client.get(REGIONS, headers=headers).status_code == 200
    frozen.advance(timedelta(seconds=600))
    purge_seen_signatures(hub)
    replay = client.get(REGIONS, headers=headers)
    assert replay.status_code == 401 and replay.json()["detail"] == "signature replayed"
    frozen.advance(timedelta(seconds=1))
    purge_seen_signatures(hub)
    replay = client.get(REGIONS, headers=headers)
    assert replay.status_code == 401 and replay.json()["field"] == "X-Hub-Timestamp"


@pytest.mark.parametrize("form", ["+{ts}", "0{ts}", "{ts}.0", " {ts}", "{ts}_", "-{ts}"])
def test_a_timestamp_is_plain_decimal_digits(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str], frozen: hub_clock.Clock,
    form: str,
) -> None:  # fmt: skip
    """Signed correctly, but not in the one form: refused, naming the header."""
    text = form.format(ts=int(frozen.now().timestamp()))
    headers = signed(signer, keypair[0], "GET", REGIONS, ts=text)
    response = client.get(REGIONS, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["field"] == "X-Hub-Timestamp"


# -- finding 8: a header that authenticates appears once --------------------------------
def test_two_authorization_headers_are_refused(
    client: TestClient, county_a: MemberKey, county_b: MemberKey
) -> None:
    for second in (county_b, county_a):
        headers = [("Authorization", f"Bearer {county_a.api_key}"),
                   ("Authorization", f"Bearer {second.api_key}")]  # fmt: skip
        response = client.get("/api/v1/members/me", headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == "Authorization"


@pytest.mark.parametrize("name", ["X-Hub-Signature", "X-Hub-Timestamp"])
def test_a_repeated_signature_header_is_refused(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str], name: str
) -> None:
    headers = signed(signer, keypair[0], "GET", REGIONS)
    listed = [*headers.items(), (name.lower(), headers[name])]
    response = client.get(REGIONS, headers=listed)
    assert response.status_code == 401, response.text
    assert response.json()["field"] == name


def test_a_repeated_idempotency_key_is_refused(
    client: TestClient, hub: HubContext, county_b: MemberKey, addressee: MemberKey
) -> None:
    headers = [*county_b.headers.items(), ("Content-Type", "application/json"),
               ("Idempotency-Key", "first-key"), ("Idempotency-Key", "second-key")]  # fmt: skip
    response = client.post(MESSAGES, content=message_body(), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "Idempotency-Key"
    assert messages(hub) == 0


def test_two_authorization_headers_are_refused_on_metrics(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    hub.settings.metrics_token = "scrape-token-for-the-test"
    headers = [("Authorization", "Bearer scrape-token-for-the-test"),
               ("Authorization", f"Bearer {county_a.api_key}")]  # fmt: skip
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["field"] == "Authorization"


def test_the_hubs_push_signatures_are_in_the_same_one_form(hub: HubContext) -> None:
    """What the hub sends is what it accepts: unpadded base64url, checked strictly by
    the receiver's ``verify_push`` too."""
    from exchange_hub.exchange import delivery

    body = b'{"id": "x"}'
    now = int(hub_clock.unix_seconds())
    headers = delivery.push_headers(hub.keyring, "https://county.example/in?box=1", body, now)
    sig = delivery.parse_signature_header(headers["X-Hub-Signature"])["sig"]
    alg = hub.keyring.hub_public_key()["alg"]  # Ed25519, or SM2 in the national profile
    assert len(crypto.decode_signature(sig, alg)) == (64 if alg == "Ed25519" else len(sig) * 3 // 4)
    public = hub.keyring.hub_public_key()["public_key"]
    assert delivery.verify_push(public, "/in?box=1", headers, body)
    padded = headers["X-Hub-Signature"].replace(sig, sig + "==")
    assert not delivery.verify_push(
        public, "/in?box=1", {**headers, "X-Hub-Signature": padded}, body
    )

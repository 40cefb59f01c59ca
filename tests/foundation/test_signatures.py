"""Ed25519 request signatures (SPEC §7): valid, wrong key, stale, replayed."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from exchange_hub import clock as hub_clock
from exchange_hub import crypto
from exchange_hub.context import HubContext
from exchange_hub.deps import signing_string
from tests.fixtures.hub import MemberKey, make_member

PATH = "/api/v1/regions?parent=110100"


@pytest.fixture
def keypair() -> tuple[str, str]:
    return crypto.generate_member_keypair()


@pytest.fixture
def signer(hub: HubContext, keypair: tuple[str, str]) -> MemberKey:
    return make_member(hub, role="county", region="110105", public_key=keypair[1])


def signed_headers(
    member: MemberKey, private: str, *, ts: int | None = None, body: bytes = b""
) -> dict[str, str]:
    timestamp = str(ts if ts is not None else int(hub_clock.unix_seconds()))
    payload = signing_string("GET", PATH, timestamp, hashlib.sha256(body).hexdigest())
    return {
        **member.headers,
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature": crypto.sign_with_private_key(private, payload),
    }


def test_valid_signature_is_accepted(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str]
) -> None:
    response = client.get(PATH, headers=signed_headers(signer, keypair[0]))
    assert response.status_code == 200, response.text


def test_signature_is_mandatory_once_a_key_is_registered(
    client: TestClient, signer: MemberKey
) -> None:
    response = client.get(PATH, headers=signer.headers)
    assert response.status_code == 401
    assert "sign" in response.json()["detail"]


def test_wrong_key_is_refused(client: TestClient, signer: MemberKey) -> None:
    other_private, _ = crypto.generate_member_keypair()
    response = client.get(PATH, headers=signed_headers(signer, other_private))
    assert response.status_code == 401
    assert response.json()["detail"] == "signature does not verify"


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_or_future_timestamp_is_refused(
    client: TestClient,
    signer: MemberKey,
    keypair: tuple[str, str],
    offset: int,
    clock: hub_clock.Clock,
) -> None:
    # Frozen on a whole second: a slow machine must not move +301 s back inside the window.
    clock.pin(hub_clock.now().replace(microsecond=0), tick=False)
    headers = signed_headers(signer, keypair[0], ts=int(hub_clock.unix_seconds()) + offset)
    response = client.get(PATH, headers=headers)
    assert response.status_code == 401
    assert "window" in response.json()["detail"]


def test_replay_is_refused(client: TestClient, signer: MemberKey, keypair: tuple[str, str]) -> None:
    headers = signed_headers(signer, keypair[0])
    assert client.get(PATH, headers=headers).status_code == 200
    replay = client.get(PATH, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["detail"] == "signature replayed"


def test_signature_covers_path_and_body(
    client: TestClient, signer: MemberKey, keypair: tuple[str, str]
) -> None:
    headers = signed_headers(signer, keypair[0])
    assert client.get("/api/v1/regions?parent=440300", headers=headers).status_code == 401
    headers = signed_headers(signer, keypair[0], body=b'{"x": 1}')
    assert client.get(PATH, headers=headers).status_code == 401


def test_garbage_signature_headers_are_401_not_500(client: TestClient, signer: MemberKey) -> None:
    for ts, sig in (("soon", "abc"), ("1", "!!!"), (str(int(hub_clock.unix_seconds())), "x" * 500)):
        headers = {**signer.headers, "X-Hub-Timestamp": ts, "X-Hub-Signature": sig}
        assert client.get(PATH, headers=headers).status_code == 401


def test_public_key_must_be_ed25519(hub: HubContext) -> None:
    from exchange_hub.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        make_member(hub, public_key="not-a-key")
    assert caught.value.field == "public_key"

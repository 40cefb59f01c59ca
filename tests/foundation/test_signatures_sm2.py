"""SM2 request signatures (national profile): a county that registered an SM2 key signs
its requests with it, as an Ed25519 county does; tampered or replayed requests are refused."""

from __future__ import annotations

import hashlib
import json

import gmssl_pyx
import pytest
from fastapi.testclient import TestClient

from exchange_hub import clock as hub_clock
from exchange_hub import crypto
from exchange_hub.context import HubContext
from exchange_hub.deps import signing_string
from exchange_hub.errors import InvalidInput
from tests.fixtures.hub import MemberKey, make_member
from tests.records.factories import id_number, outflow

RECORDS = "/api/v1/records"


@pytest.fixture
def gmssl_keypair() -> tuple[bytes, bytes]:
    """(public X||Y, private) from GmSSL: the county's own software, not the hub's library."""
    return gmssl_pyx.sm2_key_generate()


@pytest.fixture
def county(hub: HubContext, gmssl_keypair: tuple[bytes, bytes]) -> MemberKey:
    return make_member(
        hub, role="county", region="110105", public_key="04" + gmssl_keypair[0].hex()
    )


def sm2_headers(
    member: MemberKey, keypair: tuple[bytes, bytes], method: str, path: str, body: bytes
) -> dict[str, str]:
    timestamp = str(int(hub_clock.unix_seconds()))
    signed = signing_string(method, path, timestamp, hashlib.sha256(body).hexdigest())
    public, private = keypair
    signature = gmssl_pyx.sm2_sign(private, public, signed)
    return {
        **member.headers,
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature": crypto._b64e(signature),
        "Content-Type": "application/json",
    }


def test_a_county_signing_with_sm2_is_accepted(
    client: TestClient, county: MemberKey, gmssl_keypair: tuple[bytes, bytes]
) -> None:
    body = json.dumps(outflow(id_number(seq=1)), ensure_ascii=False).encode()
    headers = sm2_headers(county, gmssl_keypair, "POST", RECORDS, body)
    response = client.post(RECORDS, content=body, headers=headers)
    assert response.status_code == 201, response.text


def test_a_tampered_sm2_request_is_refused(
    client: TestClient, county: MemberKey, gmssl_keypair: tuple[bytes, bytes]
) -> None:
    body = json.dumps(outflow(id_number(seq=1)), ensure_ascii=False).encode()
    headers = sm2_headers(county, gmssl_keypair, "POST", RECORDS, body)
    tampered = body.replace("王秀英".encode(), "王秀花".encode())
    response = client.post(RECORDS, content=tampered, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "signature does not verify"
    assert response.json()["field"] == "X-Hub-Signature"


def test_another_sm2_key_or_an_ed25519_signature_is_refused(
    client: TestClient, county: MemberKey, gmssl_keypair: tuple[bytes, bytes]
) -> None:
    body = json.dumps(outflow(id_number(seq=2))).encode()
    other = gmssl_pyx.sm2_key_generate()
    response = client.post(RECORDS, content=body,
                           headers=sm2_headers(county, other, "POST", RECORDS, body))  # fmt: skip
    assert response.status_code == 401
    headers = sm2_headers(county, gmssl_keypair, "POST", RECORDS, body)
    ed_private, _ = crypto.generate_member_keypair()
    signed = signing_string("POST", RECORDS, headers["X-Hub-Timestamp"],
                            hashlib.sha256(body).hexdigest())  # fmt: skip
    headers["X-Hub-Signature"] = crypto.sign_with_private_key(ed_private, signed)
    response = client.post(RECORDS, content=body, headers=headers)
    assert response.status_code == 401
    assert "SM2" in response.json()["detail"]


def test_an_sm2_request_signed_again_is_still_a_replay(
    client: TestClient, county: MemberKey, gmssl_keypair: tuple[bytes, bytes]
) -> None:
    """SM2 signs with a fresh nonce: the same content signed twice looks different."""
    path = "/api/v1/regions?parent=110100"
    hub_clock.CLOCK.pin(hub_clock.now().replace(microsecond=0), tick=False)
    first = sm2_headers(county, gmssl_keypair, "GET", path, b"")
    second = sm2_headers(county, gmssl_keypair, "GET", path, b"")
    assert first["X-Hub-Signature"] != second["X-Hub-Signature"]
    assert client.get(path, headers=first).status_code == 200
    replay = client.get(path, headers=second)
    assert replay.status_code == 401
    assert replay.json()["detail"] == "signature replayed"


def test_members_register_sm2_keys_as_pem_or_hex_through_the_api(
    client: TestClient, admin_nation: MemberKey
) -> None:
    ring = crypto.ring_from_document(crypto.new_ring_document("national"), "national")
    key = ring.hub_public_key()
    for form in (key["pem"], key["public_key"], key["public_key"][2:].upper()):
        body = {"role": "county", "region": "440305", "public_key": form}
        response = client.post("/api/v1/members", json=body, headers=admin_nation.headers)
        assert response.status_code == 201, response.text
    bad = {"role": "county", "region": "440305", "public_key": "04" + "00" * 64}
    response = client.post("/api/v1/members", json=bad, headers=admin_nation.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "public_key"


def test_a_point_off_the_curve_is_refused(hub: HubContext) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_member(hub, public_key="04" + "11" * 64)
    assert caught.value.field == "public_key"

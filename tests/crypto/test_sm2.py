"""SM2 signatures (GM/T 0003, SM3 with the GM/T 0009 default user id) through Tongsuo,
cross-verified in both directions with GmSSL, an independent implementation."""

from __future__ import annotations

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from exchange_hub import crypto
from exchange_hub import national_crypto as gm

MESSAGES = [b"", b"abc", "流动人口婚育证明".encode(), bytes(range(256)) * 40]


@pytest.fixture(scope="module")
def ring() -> crypto.KeyRing:
    return crypto.ring_from_document(crypto.new_ring_document("national"), "national")


@pytest.mark.parametrize("message", MESSAGES)
def test_the_hubs_sm2_signature_verifies_in_gmssl(ring: crypto.KeyRing, message: bytes) -> None:
    signature = ring.sign(message)
    assert signature["alg"] == "SM2"
    point = bytes.fromhex(ring.hub_public_key()["public_key"])
    raw = crypto.decode_signature(signature["sig"], "SM2")
    assert gmssl_pyx.sm2_verify(point[1:], message, raw, signer_id=gm.SM2_USER_ID)
    assert not gmssl_pyx.sm2_verify(point[1:], message + b"!", raw, signer_id=gm.SM2_USER_ID)


@pytest.mark.parametrize("message", MESSAGES)
def test_a_gmssl_signature_verifies_here(message: bytes) -> None:
    public, private = gmssl_pyx.sm2_key_generate()
    raw = gmssl_pyx.sm2_sign(private, public, message, signer_id=gm.SM2_USER_ID)
    stored = crypto.parse_public_key(public.hex())  # X||Y, as some county systems hold it
    assert stored == "04" + public.hex()
    text = crypto._b64e(raw)
    assert crypto.verify_with_stored_key(stored, message, text)
    assert not crypto.verify_with_stored_key(stored, message + b"!", text)
    other_public, _ = gmssl_pyx.sm2_key_generate()
    assert not crypto.verify_with_stored_key("04" + other_public.hex(), message, text)


def test_a_member_key_from_generate_signs_what_gmssl_verifies() -> None:
    private, public = crypto.generate_member_keypair("SM2")
    signature = crypto.sign_with_private_key(private, b"GET\n/x\n1\nd")
    point = bytes.fromhex(public)
    assert gmssl_pyx.sm2_verify(point[1:], b"GET\n/x\n1\nd", crypto._b64d(signature))


def test_signatures_with_another_user_id_do_not_verify() -> None:
    public, private = gmssl_pyx.sm2_key_generate()
    raw = gmssl_pyx.sm2_sign(private, public, b"m", signer_id=b"county-110105")
    assert not crypto.verify_with_stored_key("04" + public.hex(), b"m", crypto._b64e(raw))


def test_public_keys_are_read_in_every_form_and_normalised(ring: crypto.KeyRing) -> None:
    document = ring.hub_public_key()
    point = document["public_key"]
    for form in (point, point.upper(), point[2:], document["pem"], "  " + document["pem"]):
        assert crypto.parse_public_key(form) == point
    assert crypto.public_key_alg(point) == "SM2"
    _, ed25519 = crypto.generate_member_keypair()
    assert crypto.public_key_alg(crypto.parse_public_key(ed25519)) == "Ed25519"


@pytest.mark.parametrize(
    "bad",
    [
        "04" + "00" * 64,  # not on the curve
        "05" + "11" * 64,  # not an uncompressed point
        "04" + "ab" * 63,  # too short for either form
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE\n"
        "-----END PUBLIC KEY-----",
        "zz" * 65,
    ],
)
def test_malformed_sm2_public_keys_are_refused(bad: str) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.parse_public_key(bad)


def test_an_ec_key_on_another_curve_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(crypto.CryptoError):
        crypto.parse_public_key(pem.decode())


def _der_with_leading_zero(r: int, s: int) -> bytes:
    body_r = b"\x02\x21\x00" + r.to_bytes(32, "big")  # a needless 0x00 when r < 2^255
    body_s = encode_dss_signature(1, s)[5:]
    return b"\x30" + bytes([len(body_r) + len(body_s)]) + body_r + body_s


def test_sm2_signatures_have_one_spelling(ring: crypto.KeyRing) -> None:
    text = ring.sign(b"x")["sig"]
    assert crypto.decode_signature(text, "SM2")
    refused = [
        text + "==", text.replace("-", "+").replace("_", "/") if "-" in text or "_" in text
        else text + "+", text + "A", "", "A" * 200,
        crypto._b64e(encode_dss_signature(0, 5)),  # r outside [1, n-1]
        crypto._b64e(encode_dss_signature(5, gm.SM2_ORDER)),
        crypto._b64e(_der_with_leading_zero(2**200, 7)),  # not canonical DER
        crypto._b64e(encode_dss_signature(5, 7) + b"\x00"),  # trailing bytes
    ]  # fmt: skip
    for bad in refused:
        with pytest.raises(crypto.CryptoError):
            crypto.decode_signature(bad, "SM2")

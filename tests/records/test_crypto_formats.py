"""The key ring's fast paths keep the stored forms: tokens and blind indexes.

Existing rows are found by their blind indexes, so an index must stay
byte-identical for the same value and key; ciphertexts must decrypt both
ways. The expected values below were made by ``KeyRing`` before its batch
fast paths (commit d0747f3), with the fixed key ring ``RING``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from exchange_hub import crypto


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


DATA_KEYS = {"d0000old": bytes(range(32)), "d0000new": bytes(range(100, 132))}
RING = {
    "data_keys": {kid: _b64(key) for kid, key in DATA_KEYS.items()},
    "current_data_key": "d0000new",
    "index_keys": {"i0000old": _b64(bytes(range(32, 64))), "i0000new": _b64(bytes(range(64, 96)))},
    "current_index_key": "i0000new",
    "audit_key": {"kid": "a0000000", "key": _b64(bytes(32))},
    "signing_key": {"kid": "s0000000", "key": _b64(bytes(range(200, 232)))},
}
TOKEN = re.compile(r"A256GCM\.d0000new\.[A-Za-z0-9_-]+")

# Tokens made before: (token, context, clear text).
OLD_TOKENS = [
    ("A256GCM.d0000new.p9an7H71wX7Rz13jRnuoRcVk1xYTsF7k48JJK1GU8TYmO4LGOEZk1A",
     "records.name", "欧阳娜娜"),
    ("A256GCM.d0000new.nUlp4o665WAZ4AM50h9mqG9xdKbHevwow-Prwg", "records.phone", ""),
    ("A256GCM.d0000old.hpQUDxH8mZX11WEhSu8js_2XZrQlUpDe7I0CO62FmiGUy7oU6N56G0e34qAhQQ",
     "records.id_number", "110105198503140022"),
]  # fmt: skip


@pytest.fixture
def ring() -> crypto.KeyRing:
    return crypto.ring_from_document(RING)


def decrypt_as_before(token: str, context: str) -> str:
    """The decryption of the code before, written out with the primitives."""
    alg, kid, body = token.split(".", 2)
    assert alg == "A256GCM"
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return AESGCM(DATA_KEYS[kid]).decrypt(raw[:12], raw[12:], context.encode()).decode()


def test_blind_indexes_are_the_ones_made_before(ring: crypto.KeyRing) -> None:
    current = "HS256.i0000new.9eb6af80cc9d507ef0de51a3646ad9ace503d6bab7bb5ea07930becc74139ffd"
    old = "HS256.i0000old.77c5034faf8f0dfba5d7062102e3e4448f33544640bd1071420eb23cf62be181"
    assert ring.blind_index("110105198503140022") == current
    assert ring.all_blind_indexes("110105198503140022") == [old, current]
    assert ring.blind_indexes("110105198503140022") == (current, [old, current])
    assert ring.blind_index("x", "i0000old") == (
        "HS256.i0000old.779222cb8d6d428964a57d7c0eabdd9eae3928a6bdc96f8e103bd97d066dcf41"
    )


def test_one_index_key_gives_one_form(ring: crypto.KeyRing) -> None:
    current_only = {"i0000new": RING["index_keys"]["i0000new"]}  # type: ignore[index]
    single = crypto.ring_from_document({**RING, "index_keys": current_only})
    assert single.blind_indexes("x") == (ring.blind_index("x"), [ring.blind_index("x")])


@given(st.binary(max_size=150), st.binary(max_size=300))
def test_blind_index_is_rfc_2104_hmac_sha256_for_any_key(key: bytes, value: bytes) -> None:
    ring = crypto.KeyRing(
        data_keys={}, current_data_key="", index_keys={"k": key}, current_index_key="k",
        audit_key=("", b""), signing_key=("", None),  # type: ignore[arg-type]
    )  # fmt: skip
    expected = hmac.new(key, value, hashlib.sha256).hexdigest()
    assert ring.blind_index_of_bytes(value) == f"HS256.k.{expected}"
    assert ring.blind_index_of_bytes(value, "k") == f"HS256.k.{expected}"


@pytest.mark.parametrize(("token", "context", "clear"), OLD_TOKENS)
def test_tokens_made_before_decrypt(
    ring: crypto.KeyRing, token: str, context: str, clear: str
) -> None:
    assert ring.decrypt(token, context) == clear


@pytest.mark.parametrize("clear", ["", "甲", "110105198503140022", "广东省深圳市南山区" * 20])
def test_tokens_made_now_decrypt_as_before(ring: crypto.KeyRing, clear: str) -> None:
    token = ring.encrypt(clear, "records.address")
    (fields_token,) = ring.encrypt_fields([(clear, "records.address")])
    for made in (token, fields_token):
        assert TOKEN.fullmatch(made)
        assert decrypt_as_before(made, "records.address") == clear
        assert ring.decrypt(made, "records.address") == clear


def test_encrypt_fields_leaves_missing_texts_out_and_never_repeats_a_nonce(
    ring: crypto.KeyRing,
) -> None:
    fields = [("甲", "records.name"), (None, "records.phone"), ("", "records.address")]
    tokens = [t for _ in range(3_000) for t in ring.encrypt_fields(fields)]  # > one pool refill
    assert tokens[1] is None
    made = [t for t in tokens if t is not None]
    assert len({crypto._b64d(t.split(".")[2])[:12] for t in made}) == len(made)
    assert decrypt_as_before(made[0], "records.name") == "甲"
    assert decrypt_as_before(made[-1], "records.address") == ""
    with pytest.raises(crypto.CryptoError):
        ring.decrypt(made[0], "records.address")  # the context is bound to the ciphertext

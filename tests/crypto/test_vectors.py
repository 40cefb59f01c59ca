"""The national algorithms against their published test vectors.

- SM4: GB/T 32907-2016 appendix A (example 1, and example 2's 1,000,000 rounds);
- SM3: GB/T 32905-2016 appendix A (``abc`` and the 512-bit message);
- SM4-GCM: RFC 8998 appendix A.1;
- HMAC-SM3 (the key ring's fast path) against GmSSL's, an independent implementation.
"""

from __future__ import annotations

import gmssl_pyx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_hub import crypto
from exchange_hub import national_crypto as gm

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm4_gb_t_32907_example_1() -> None:
    block = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    assert block.update(SM4_KEY).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_gb_t_32907_example_2_a_million_rounds() -> None:
    block = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    data = SM4_KEY
    for _ in range(1_000_000):
        data = block.update(data)
    assert data.hex() == "595298c7c6fd271f0402f804c33d3f66"


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ],
)
def test_sm3_gb_t_32905(message: bytes, digest: str) -> None:
    assert gm.sm3(message).hex() == digest
    hasher = gm._CryptographySM3()  # the fallback where hashlib has no SM3
    hasher.update(message)
    assert hasher.hexdigest() == digest


RFC8998_A1 = {
    "iv": "00001234567800000000ABCD",
    "key": "0123456789ABCDEFFEDCBA9876543210",
    "plaintext": "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
    "aad": "FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2",
    "ciphertext": "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D",
    "tag": "83DE3541E4C2B58177E065A9BF7B62EC",
}


def test_sm4_gcm_rfc_8998_appendix_a1() -> None:
    v = {name: bytes.fromhex(value) for name, value in RFC8998_A1.items()}
    sealed = gm.SM4GCM(v["key"]).encrypt(v["iv"], v["plaintext"], v["aad"])
    assert sealed == v["ciphertext"] + v["tag"]
    assert gm.SM4GCM(v["key"]).decrypt(v["iv"], sealed, v["aad"]) == v["plaintext"]
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for bad, aad in ((tampered, v["aad"]), (sealed, v["aad"] + b"x"), (sealed[:15], v["aad"])):
        with pytest.raises(InvalidTag):
            gm.SM4GCM(v["key"]).decrypt(v["iv"], bad, aad)


def test_an_sm4_key_is_16_bytes() -> None:
    with pytest.raises(gm.NationalCryptoError):
        gm.SM4GCM(bytes(32))


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=150), st.binary(max_size=300))  # GmSSL refuses empty keys
def test_hmac_sm3_blind_index_matches_gmssl_for_any_key(key: bytes, value: bytes) -> None:
    ring = crypto.KeyRing(
        data_keys={}, current_data_key="", index_keys={"k": key}, current_index_key="k",
        audit_key=("", b""), signing_key=("", None),  # type: ignore[arg-type]
        key_algs={"k": crypto.SM3_INDEX_ALG},
    )  # fmt: skip
    expected = gmssl_pyx.sm3_hmac(key, value).hex()
    assert ring.blind_index_of_bytes(value) == f"HSM3.k.{expected}"
    assert gm.hmac_sm3(key, value).hex() == expected

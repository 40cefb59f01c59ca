"""The national algorithms (国密, GB/T 39786-2021) under ``crypto``: SM4-GCM, SM3, SM2.

Only ``crypto`` imports this module. SM4 and SM3 come from ``cryptography``
(OpenSSL 3); SM2 signatures from ``tongsuopy`` (Tongsuo, the OpenSSL fork
with the national algorithms, through cffi), since ``cryptography`` has no
SM2. SM2 signs with SM3 and the default user id of GM/T 0009-2012
(``1234567812345678``), the signature in ASN.1 DER (``SEQUENCE {r, s}``).

Public keys travel as the uncompressed point in hex (``04 || X || Y``, the
form county systems usually hold) or as PEM (SubjectPublicKeyInfo).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from tongsuopy.crypto import hashes as gm_hashes
from tongsuopy.crypto import serialization as gm_serialization
from tongsuopy.crypto.asymciphers import ec as gm_ec
from tongsuopy.crypto.exceptions import InvalidSignature as GmInvalidSignature

SM4_KEY_BYTES = 16
SM2_USER_ID = b"1234567812345678"  # GM/T 0009-2012 §10: the default signer id
SM2_ORDER = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
SM2_POINT_HEX = 130  # "04" and two 32-byte coordinates
_TAG = 16


class NationalCryptoError(ValueError):
    """A national-profile key or signature that is malformed."""


class SM4GCM:
    """SM4 in GCM mode (RFC 8998 §3.1) shaped like ``AESGCM``: ciphertext || 16-byte tag."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != SM4_KEY_BYTES:
            raise NationalCryptoError("an SM4 key is 16 bytes")
        self._key = key

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        sealer = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        sealer.authenticate_additional_data(associated_data or b"")
        return sealer.update(data) + sealer.finalize() + sealer.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        if len(data) < _TAG:
            raise InvalidTag
        opener = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, data[-_TAG:])).decryptor()
        opener.authenticate_additional_data(associated_data or b"")
        return opener.update(data[:-_TAG]) + opener.finalize()


def _hashlib_sm3() -> Callable[[], Any] | None:
    """hashlib's SM3 (OpenSSL's), when the interpreter's OpenSSL has it."""
    try:
        hashlib.new("sm3", b"abc")
    except ValueError:
        return None
    return lambda: hashlib.new("sm3")


_SM3 = _hashlib_sm3()


def sm3_factory() -> Callable[[], Any]:
    """A constructor of SM3 hash objects (``copy``/``update``/``digest``, as hashlib's)."""
    return _SM3 or _CryptographySM3


class _CryptographySM3:
    """``cryptography``'s SM3 with hashlib's interface, where hashlib has none."""

    __slots__ = ("_hash",)

    def __init__(self, state: hashes.Hash | None = None) -> None:
        self._hash = state or hashes.Hash(hashes.SM3())

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def copy(self) -> _CryptographySM3:
        return _CryptographySM3(self._hash.copy())

    def digest(self) -> bytes:
        return self._hash.copy().finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905-2016) of ``data``."""
    hasher = sm3_factory()()
    hasher.update(data)
    return bytes(hasher.digest())


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) with SM3."""
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


# -- SM2 --------------------------------------------------------------------------------
_SM3_SIGNATURE = gm_ec.ECDSA(gm_hashes.SM3())  # tongsuopy: SM2 with SM3 and the default id


class SM2Signer:
    """The hub's SM2 private key (Tongsuo): signs with SM3 and the default user id."""

    alg = "SM2"

    def __init__(self, private_value: bytes) -> None:
        number = int.from_bytes(private_value, "big")
        if len(private_value) != 32 or not 0 < number < SM2_ORDER - 1:
            raise NationalCryptoError("an SM2 private key is 32 bytes in [1, n-2]")
        self._key = gm_ec.derive_private_key(number, gm_ec.SM2())

    @classmethod
    def generate(cls) -> tuple[SM2Signer, bytes]:
        key = gm_ec.generate_private_key(gm_ec.SM2())
        raw = key.private_numbers().private_value.to_bytes(32, "big")
        return cls(raw), raw

    def sign(self, payload: bytes) -> bytes:
        return bytes(self._key.sign(payload, _SM3_SIGNATURE))

    def public_point(self) -> bytes:
        return bytes(
            self._key.public_key().public_bytes(
                gm_serialization.Encoding.X962, gm_serialization.PublicFormat.UncompressedPoint
            )
        )


def sm2_point_from_text(text: str) -> bytes:
    """An SM2 public key given as PEM, ``04||X||Y`` hex or ``X||Y`` hex: the 65-byte point.

    The point is checked to lie on the curve (Tongsuo refuses any other).
    """
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = gm_serialization.load_pem_public_key(text.encode())
            if not isinstance(key, gm_ec.EllipticCurvePublicKey) or key.curve.name != "SM2":
                raise NationalCryptoError("the PEM key is not an SM2 key")
            return _point_of(key)
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise NationalCryptoError("not an SM2 public key (PEM, or 04||X||Y in hex)") from exc
    if len(raw) == 64:  # X || Y without the uncompressed-point marker
        raw = b"\x04" + raw
    if len(raw) != 65 or raw[0] != 4:
        raise NationalCryptoError("an SM2 public key in hex is 04||X||Y (65 bytes)")
    try:
        _public_key(raw)
    except ValueError as exc:
        raise NationalCryptoError("the point is not on the SM2 curve") from exc
    return raw


def _point_of(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            gm_serialization.Encoding.X962, gm_serialization.PublicFormat.UncompressedPoint
        )
    )


def _public_key(point: bytes) -> Any:
    return gm_ec.EllipticCurvePublicKey.from_encoded_point(gm_ec.SM2(), point)


def sm2_verify(point: bytes, payload: bytes, signature: bytes) -> bool:
    """Whether the DER ``signature`` signs ``payload`` under the SM2 key ``point``."""
    try:
        _public_key(point).verify(signature, payload, _SM3_SIGNATURE)
    except (GmInvalidSignature, ValueError):
        return False
    return True


def check_sm2_der(raw: bytes) -> None:
    """Refuse anything but the one DER spelling of ``(r, s)`` with both in ``[1, n-1]``.

    A signature that could be written several ways could be sent again
    looking new; replay detection keys on the signed content anyway.
    """
    try:
        r, s = decode_dss_signature(raw)
    except ValueError as exc:
        raise NationalCryptoError("is not an SM2 signature (DER SEQUENCE of r and s)") from exc
    if not (0 < r < SM2_ORDER and 0 < s < SM2_ORDER):
        raise NationalCryptoError("has r or s outside the SM2 group order")
    if encode_dss_signature(r, s) != raw:
        raise NationalCryptoError("is not in canonical DER")


def sm2_pem_of_point(point: bytes) -> str:
    """The SubjectPublicKeyInfo PEM of an SM2 public key given as its 65-byte point."""
    key = _public_key(point)
    return bytes(
        key.public_bytes(
            gm_serialization.Encoding.PEM, gm_serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()

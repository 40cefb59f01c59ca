"""Signing requests as the hub verifies them (``deps.py``, README "Security").

A member with a registered public key signs every request: ``X-Hub-Timestamp``
(Unix seconds) and ``X-Hub-Signature`` over ``crypto.signing_string`` —
``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nsha256-hex(body)`` — the signature in unpadded
base64url. The hub refuses a request whose signed content it accepted before (a
replay), so two identical requests within one second get distinct timestamps.

``Signer`` is the interface a signing scheme implements: ``Ed25519Signer``, and
``SM2Signer`` for a member that registered an SM2 key (the national profile: SM2
with SM3 and the default user id, the signature DER in unpadded base64url).
``load_signer`` reads either from a key file.
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange_hub import clock, national_crypto
from exchange_hub.crypto import signing_string

TIMESTAMP, SIGNATURE = "X-Hub-Timestamp", "X-Hub-Signature"


class Signer(Protocol):
    """A member's signing key: ``sign`` returns the signature as the hub reads it."""

    alg: str

    def sign(self, payload: bytes) -> str: ...


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Ed25519Signer:
    """Ed25519 (RFC 8032): a 64-byte signature, unpadded base64url (86 characters)."""

    alg = "Ed25519"

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def from_text(cls, text: str) -> Ed25519Signer:
        """A PEM (PKCS #8) private key, or the raw 32 bytes in base64/base64url (what
        ``exchange-hub-agent keygen`` and ``crypto.generate_member_keypair`` write)."""
        text = text.strip()
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("the PEM file holds another kind of key, not Ed25519")
            return cls(key)
        raw = base64.urlsafe_b64decode(
            text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4)
        )
        if len(raw) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def from_file(cls, path: Path) -> Ed25519Signer:
        return cls.from_text(path.read_text(encoding="ascii"))

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(Ed25519PrivateKey.generate())

    def private_text(self) -> str:
        raw = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )  # fmt: skip
        return _b64url(raw)

    def public_text(self) -> str:
        """The public key as ``exchange-hub members set-public-key`` takes it."""
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return _b64url(raw)

    def sign(self, payload: bytes) -> str:
        return _b64url(self._key.sign(payload))


SM2_KEY_PREFIX = "sm2:"  # an SM2 private key file: the prefix, then the 32 bytes in hex


class SM2Signer:
    """SM2 with SM3 (GM/T 0003, 0009): a DER signature, unpadded base64url."""

    alg = "SM2"

    def __init__(self, private_value: bytes) -> None:
        self._key = national_crypto.SM2Signer(private_value)
        self._private = private_value

    @classmethod
    def from_text(cls, text: str) -> SM2Signer:
        """``sm2:`` and the private key's 32 bytes in hex (what ``keygen --sm2`` writes)."""
        text = text.strip()
        if not text.lower().startswith(SM2_KEY_PREFIX):
            raise ValueError(f"an SM2 private key is written {SM2_KEY_PREFIX}<64 hex digits>")
        try:
            raw = bytes.fromhex(text[len(SM2_KEY_PREFIX) :])
            return cls(raw)
        except (ValueError, national_crypto.NationalCryptoError) as exc:
            raise ValueError(f"not an SM2 private key: {exc}") from exc

    @classmethod
    def generate(cls) -> SM2Signer:
        _key, raw = national_crypto.SM2Signer.generate()
        return cls(raw)

    def private_text(self) -> str:
        return SM2_KEY_PREFIX + self._private.hex()

    def public_text(self) -> str:
        """The public key as members register it: 04‖X‖Y in hex (130 digits)."""
        return self._key.public_point().hex()

    def sign(self, payload: bytes) -> str:
        return _b64url(self._key.sign(payload))


def load_signer(path: Path) -> Ed25519Signer | SM2Signer:
    """The signing key in a key file: SM2 when it says ``sm2:``, else Ed25519."""
    text = path.read_text(encoding="ascii")
    if text.strip().lower().startswith(SM2_KEY_PREFIX):
        return SM2Signer.from_text(text)
    return Ed25519Signer.from_text(text)


class RequestSigner:
    """Headers that sign one request; never the same timestamp twice for the same content."""

    def __init__(self, signer: Signer, now: Callable[[], float] = clock.unix_seconds) -> None:
        self.signer, self._now = signer, now
        self._last: OrderedDict[bytes, int] = OrderedDict()  # content → timestamp used

    def headers(self, method: str, path_qs: str, body_digest: str) -> dict[str, str]:
        content = f"{method.upper()}\n{path_qs}\n{body_digest}".encode()
        timestamp = int(self._now())
        used = self._last.get(content)
        if used is not None and timestamp <= used:
            timestamp = used + 1  # the hub would take a second identical request for a replay
        self._last[content] = timestamp
        self._last.move_to_end(content)
        while len(self._last) > 4_096:
            self._last.popitem(last=False)
        signed = signing_string(method, path_qs, str(timestamp), body_digest)
        return {TIMESTAMP: str(timestamp), SIGNATURE: self.signer.sign(signed)}


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()

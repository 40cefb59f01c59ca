"""All of the hub's cryptography; no other module imports ``cryptography``
(``national_crypto`` holds the national algorithms, for this module only).

Every stored or sent artefact names its algorithm and key id, so keys rotate
and an installation moves between the two profiles (``HUB_CRYPTO_PROFILE``)
while both are read:

=============  =====================  ==========================
artefact       ``international``      ``national`` (GB/T 39786)
=============  =====================  ==========================
at rest        ``A256GCM`` AES-256-GCM  ``SM4GCM`` SM4-GCM (RFC 8998)
blind index,   ``HS256`` HMAC-SHA256  ``HSM3`` HMAC-SM3
audit chain
signatures     ``Ed25519``            ``SM2`` (SM3, GM/T 0009 user id)
=============  =====================  ==========================

- ciphertext   ``<alg>.<kid>.<base64url(nonce || ciphertext+tag)>``
- blind index  ``<alg>.<kid>.<hex>``   (keyed hash for equality look-ups)
- signature    ``{"alg": "Ed25519"|"SM2", "kid": ..., "sig": base64url}``, and in
  the ``X-Hub-Signature`` header: unpadded base64url only (``decode_signature``)
- API key hash ``sha256.<hex>``        (keys are 256-bit random, not passwords)

The key ring is a JSON file named in settings (``HUB_KEYS_FILE``); its format
is in ``docs/key-ring.md``. The embedded default generates a development ring
on first start. The profile chooses the keys that *write*; every key in the
ring reads, so look-ups during a change of profile consult both indexes.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from binascii import b2a_base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange_hub import national_crypto as gm

if TYPE_CHECKING:
    from _hashlib import HASH

CIPHER_ALG = "A256GCM"
INDEX_ALG = "HS256"
SIGN_ALG = "Ed25519"
SM4_CIPHER_ALG = "SM4GCM"
SM3_INDEX_ALG = "HSM3"
SM2_ALG = "SM2"


@dataclass(frozen=True)
class Profile:
    """The algorithms an installation writes with (``HUB_CRYPTO_PROFILE``)."""

    name: str
    cipher: str
    mac: str
    signature: str


PROFILES = {
    "international": Profile("international", CIPHER_ALG, INDEX_ALG, SIGN_ALG),
    "national": Profile("national", SM4_CIPHER_ALG, SM3_INDEX_ALG, SM2_ALG),
}
DEFAULT_PROFILE = "international"


class CryptoError(Exception):
    """A ciphertext, signature or key that does not check out."""


SIGNATURE_BYTES = {SIGN_ALG: 64}  # RFC 8032 §5.1.6: R (32 bytes) || S (32 bytes)
SM2_SIGNATURE_MAX = 72  # DER SEQUENCE of two INTEGERs of at most 33 bytes
_BASE64URL_UNPADDED = re.compile(r"[A-Za-z0-9_-]*")


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_POOL_BYTES = 1 << 16
_SHA256_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))  # RFC 2104's pads, as translation tables
_OPAD = bytes(b ^ 0x5C for b in range(256))


def _b64e(raw: bytes) -> str:
    return b2a_base64(raw, newline=False).translate(_URLSAFE, b"=").decode()


class _RandomPool:
    """Random bytes read from ``os.urandom`` 64 KiB at a time, per thread.

    ``os.urandom`` is a system call that releases the GIL: a batch calling it
    for every nonce and record id waits for the writer thread thousands of
    times. Reading ahead keeps the same source; each thread has its own
    buffer, and a forked child starts a new one (no nonce shared across
    processes). The pool is a plain object held by a ``threading.local``
    (attributes of the local itself cost a per-thread look-up each).
    """

    __slots__ = ("buffer", "generation", "offset")

    def __init__(self) -> None:
        self.buffer, self.offset, self.generation = b"", 0, -1


_generation = 0  # moved on in a forked child
_thread_pools = threading.local()


def _new_pool_generation() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_new_pool_generation)


def random_bytes(size: int) -> bytes:
    """``size`` bytes from the operating system's CSPRNG (read ahead, see ``_RandomPool``)."""
    try:
        pool: _RandomPool = _thread_pools.pool
    except AttributeError:
        pool = _thread_pools.pool = _RandomPool()
    start = pool.offset
    end = start + size
    if end > len(pool.buffer) or pool.generation != _generation:
        pool.buffer = os.urandom(max(_POOL_BYTES, size))
        pool.generation, start, end = _generation, 0, size
    pool.offset = end
    return pool.buffer[start:end]


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return _b64e(secrets.token_bytes(nbytes))


def hash_api_key(secret: str) -> str:
    return "sha256." + sha256_hex(secret.encode())


def api_key_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(secret), stored_hash)


class Signer(Protocol):
    """A private signing key of the hub: Ed25519 here, SM2 in ``national_crypto``.

    A hardware security module (GM/T 0018 SDF, ``docs/hsm.md``) would be
    another implementation: the key never leaves the device.
    """

    alg: str

    def sign(self, payload: bytes) -> bytes: ...

    def public_point(self) -> bytes: ...


class Ed25519Signer:
    alg = SIGN_ALG

    def __init__(self, private: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(private)

    def sign(self, payload: bytes) -> bytes:
        return self._key.sign(payload)

    def public_point(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )


class _Sealer(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


_HASHES: dict[str, Any] = {INDEX_ALG: hashlib.sha256, SM3_INDEX_ALG: gm.sm3_factory()}


@dataclass
class KeyRing:
    """Symmetric keys by id, the current ids, and the hub's signing key.

    ``key_algs`` names the algorithm of every key that is not the
    international default (SM4-GCM data keys, HMAC-SM3 index and audit keys);
    ``audit_keys`` and ``verify_keys`` hold every audit key and every public
    signing key, so that what the other profile wrote still verifies.
    """

    data_keys: dict[str, bytes]
    current_data_key: str
    index_keys: dict[str, bytes]
    current_index_key: str
    audit_key: tuple[str, bytes]
    signing_key: tuple[str, Signer]
    key_algs: dict[str, str] = field(default_factory=dict)
    audit_keys: dict[str, bytes] = field(default_factory=dict)
    verify_keys: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    profile: Profile = PROFILES[DEFAULT_PROFILE]
    _aead: dict[str, tuple[_Sealer, str]] = field(default_factory=dict, repr=False)
    _hmac: dict[str, tuple[HASH, HASH, str]] = field(default_factory=dict, repr=False)

    # -- encryption at rest ---------------------------------------------------
    def encrypt(self, plaintext: str, context: str) -> str:
        """AES-GCM or SM4-GCM (the current key's) with the context (table.column)
        as associated data, so a ciphertext moved to another column does not decrypt."""
        cipher, prefix = self._sealer(self.current_data_key)
        nonce = random_bytes(12)
        return prefix + _b64e(nonce + cipher.encrypt(nonce, plaintext.encode(), context.encode()))

    def encrypt_fields(self, fields: Sequence[tuple[str | None, str]]) -> list[str | None]:
        """``encrypt(text, context)`` of each ``(text, context)``, ``None`` for a
        missing text: the tokens of one record, with one read of the nonce pool."""
        cipher, prefix = self._sealer(self.current_data_key)
        seal = cipher.encrypt
        nonces = random_bytes(12 * len(fields))
        out: list[str | None] = []
        start = 0
        for text, context in fields:
            if text is None:
                out.append(None)
            else:  # _b64e inline: "=" only ever pads, so translate deletes it
                nonce = nonces[start : start + 12]
                raw = nonce + seal(nonce, text.encode(), context.encode())
                encoded = b2a_base64(raw, newline=False).translate(_URLSAFE, b"=")
                out.append(prefix + encoded.decode())
            start += 12
        return out

    def decrypt(self, token: str, context: str) -> str:
        try:
            alg, kid, body = token.split(".", 2)
            cipher, prefix = self._sealer(kid)
            if prefix != f"{alg}.{kid}.":
                raise CryptoError(f"key {kid} is not a {alg} key")
            raw = _b64d(body)
            return cipher.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (ValueError, KeyError, InvalidTag) as exc:
            raise CryptoError("ciphertext does not decrypt") from exc

    def key_id_of(self, token: str) -> str:
        return token.split(".", 2)[1]

    def _cipher(self, kid: str) -> _Sealer:
        return self._sealer(kid)[0]

    def _sealer(self, kid: str) -> tuple[_Sealer, str]:
        """The key's cipher and its token prefix ``<alg>.<kid>.``, made once per key."""
        sealer = self._aead.get(kid)
        if sealer is None:
            alg = self.key_algs.get(kid, CIPHER_ALG)
            key = self.data_keys[kid]
            cipher: _Sealer = gm.SM4GCM(key) if alg == SM4_CIPHER_ALG else AESGCM(key)
            sealer = self._aead[kid] = (cipher, f"{alg}.{kid}.")
        return sealer

    # -- blind index ----------------------------------------------------------
    def blind_index(self, value: str, kid: str | None = None) -> str:
        return self.blind_index_of_bytes(value.encode(), kid)

    def blind_index_of_bytes(self, data: bytes, kid: str | None = None) -> str:
        """``blind_index`` of text already encoded as UTF-8."""
        inner, outer, prefix = self._hmac.get(kid or self.current_index_key) or self._keyed(kid)
        inner = inner.copy()
        inner.update(data)
        outer = outer.copy()
        outer.update(inner.digest())
        return prefix + outer.hexdigest()

    def _keyed(self, kid: str | None) -> tuple[HASH, HASH, str]:
        """HMAC-SHA256 or HMAC-SM3 (RFC 2104; both hashes have 64-byte blocks) with
        the key schedule done once per key: the hashes of the padded key, copied for
        each value (as ``hmac`` does inside, without its per-call Python objects)."""
        kid = kid or self.current_index_key
        key = self.index_keys[kid]
        alg = self.key_algs.get(kid, INDEX_ALG)
        new_hash = _HASHES[alg]
        if len(key) > _SHA256_BLOCK:
            digest = new_hash()
            digest.update(key)
            key = digest.digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        inner, outer = new_hash(), new_hash()
        inner.update(key.translate(_IPAD))
        outer.update(key.translate(_OPAD))
        state = (inner, outer, f"{alg}.{kid}.")
        self._hmac[kid] = state
        return state

    def all_blind_indexes(self, value: str) -> list[str]:
        """Every index form of a value, for look-ups during an index-key rotation
        or a change of profile (both profiles' indexes until every row is moved)."""
        data = value.encode()
        return [self.blind_index_of_bytes(data, kid) for kid in self.index_keys]

    def blind_indexes(self, value: str) -> tuple[str, list[str]]:
        """The current key's index of a value, and ``all_blind_indexes`` holding it."""
        return self.blind_indexes_of_bytes(value.encode())

    def blind_indexes_of_bytes(self, data: bytes) -> tuple[str, list[str]]:
        """``blind_indexes`` of text already encoded as UTF-8."""
        current = self.blind_index_of_bytes(data)
        if len(self.index_keys) == 1:  # the current key (or the line above raised)
            return current, [current]
        forms = [current if kid == self.current_index_key else self.blind_index_of_bytes(data, kid)
                 for kid in self.index_keys]  # fmt: skip
        return current, forms

    # -- audit chain ----------------------------------------------------------
    def chain_hash(self, previous: str, payload: bytes, kid: str | None = None) -> str:
        """Keyed chain link: without the audit key nobody can re-forge the chain.

        ``kid`` names another audit key of the ring (a link made before a
        change of profile); by default the current one.
        """
        if kid is None:
            kid, key = self.audit_key
        else:
            key = self.audit_keys.get(kid) or _own_audit_key(self, kid)
        alg = self.key_algs.get(kid, INDEX_ALG)
        data = previous.encode() + b"\n" + payload
        mac = (gm.hmac_sm3(key, data).hex() if alg == SM3_INDEX_ALG
               else hmac.new(key, data, hashlib.sha256).hexdigest())  # fmt: skip
        return f"{alg}.{kid}.{mac}"

    def writing_keys(self) -> tuple[str, str]:
        """``<alg>.<kid>`` of the data key and of the index key that write now."""
        data, index = self.current_data_key, self.current_index_key
        return (f"{self.key_algs.get(data, CIPHER_ALG)}.{data}",
                f"{self.key_algs.get(index, INDEX_ALG)}.{index}")  # fmt: skip

    def chain_key(self) -> str:
        """``<alg>.<kid>`` of the audit key that links new rows."""
        kid = self.audit_key[0]
        return f"{self.key_algs.get(kid, INDEX_ALG)}.{kid}"

    # -- hub signatures -------------------------------------------------------
    def sign(self, payload: bytes) -> dict[str, str]:
        kid, key = self.signing_key
        return {"alg": key.alg, "kid": kid, "sig": _b64e(key.sign(payload))}

    def hub_public_key(self) -> dict[str, str]:
        """The current signing key: ``public_key`` is base64url (Ed25519) or 04||X||Y
        hex (SM2); an SM2 key also comes as ``pem``."""
        kid, key = self.signing_key
        return public_key_document(kid, key.alg, key.public_point())

    def hub_public_keys(self) -> list[dict[str, str]]:
        """Every public signing key of the ring (older receipts verify with theirs)."""
        return [public_key_document(kid, alg, point)
                for kid, (alg, point) in self.verify_keys.items()]  # fmt: skip

    def verify_hub_signature(self, payload: bytes, signature: dict[str, str]) -> bool:
        kid, alg = signature.get("kid"), signature.get("alg")
        known = self.verify_keys.get(kid or "")
        if known is None and kid == self.signing_key[0]:
            known = (self.signing_key[1].alg, self.signing_key[1].public_point())
        if known is None or known[0] != alg:
            return False
        return verify_signature(alg, known[1], payload, signature.get("sig", ""))


def _own_audit_key(ring: KeyRing, kid: str) -> bytes:
    if kid == ring.audit_key[0]:
        return ring.audit_key[1]
    raise CryptoError(f"no audit key {kid} in the key ring")


def public_key_document(kid: str, alg: str, point: bytes) -> dict[str, str]:
    if alg == SM2_ALG:
        pem = gm.sm2_pem_of_point(point)
        return {"alg": alg, "kid": kid, "public_key": point.hex(), "pem": pem}
    return {"alg": alg, "kid": kid, "public_key": _b64e(point)}


def decode_signature(text: str, alg: str = SIGN_ALG) -> bytes:
    """A signature's bytes from its one spelling: unpadded base64url (RFC 4648 §5).

    Padding, the standard alphabet, whitespace, other unused bits in the last
    character or a length other than the algorithm's are refused (the strict
    decoding of RFC 4648 §3.3 and §3.5): a signature that could be written
    several ways could be sent again looking new (issue 15, finding 1). An SM2
    signature is DER, of varying length: it must be the canonical DER of
    ``(r, s)`` (``national_crypto.check_sm2_der``).
    """
    if alg == SM2_ALG:
        return _decode_sm2_signature(text)
    size = SIGNATURE_BYTES[alg]
    if len(text) != _b64_length(size) or not _BASE64URL_UNPADDED.fullmatch(text):
        raise CryptoError(f"is not the unpadded base64url of a {size}-byte {alg} signature")
    raw = _b64d(text)
    if _b64e(raw) != text:
        raise CryptoError("has unused bits set in its last character (not canonical base64url)")
    return raw


def _decode_sm2_signature(text: str) -> bytes:
    if len(text) > _b64_length(SM2_SIGNATURE_MAX) or not _BASE64URL_UNPADDED.fullmatch(text):
        raise CryptoError("is not the unpadded base64url of a DER SM2 signature")
    raw = _b64d(text) if len(text) % 4 != 1 else b""
    if not raw or _b64e(raw) != text:
        raise CryptoError("is not canonical unpadded base64url")
    try:
        gm.check_sm2_der(raw)
    except gm.NationalCryptoError as exc:
        raise CryptoError(str(exc)) from None
    return raw


def _b64_length(size: int) -> int:
    """Characters of ``size`` bytes in unpadded base64: 6 bits each, the last one partly used."""
    return -(-size * 4 // 3)


def verify_ed25519(public_key_b64: str, payload: bytes, signature_b64: str) -> bool:
    """Whether ``signature_b64`` (strictly decoded, ``decode_signature``) signs ``payload``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(_b64d(public_key_b64))
        key.verify(decode_signature(signature_b64), payload)
    except (InvalidSignature, ValueError, CryptoError):
        return False
    return True


def verify_signature(alg: str | None, public_key: bytes, payload: bytes, signature: str) -> bool:
    """Whether ``signature`` (unpadded base64url) signs ``payload`` under ``public_key``
    (Ed25519: 32 raw bytes; SM2: the 65-byte point)."""
    if alg == SIGN_ALG:
        return verify_ed25519(_b64e(public_key), payload, signature)
    if alg != SM2_ALG:
        return False
    try:
        raw = decode_signature(signature, SM2_ALG)
    except CryptoError:
        return False
    return gm.sm2_verify(public_key, payload, raw)


def public_key_alg(stored: str) -> str:
    """The algorithm of a public key in its stored form (``parse_public_key``)."""
    return SM2_ALG if len(stored) == gm.SM2_POINT_HEX and stored.startswith("04") else SIGN_ALG


def verify_with_stored_key(stored: str, payload: bytes, signature: str) -> bool:
    """A member's (or the hub's) signature checked with a public key as ``parse_public_key``
    returns it: base64url Ed25519, or SM2 as 04||X||Y hex."""
    alg = public_key_alg(stored)
    if alg == SIGN_ALG:
        return verify_ed25519(stored, payload, signature)
    return verify_signature(SM2_ALG, bytes.fromhex(stored), payload, signature)


def parse_public_key(text: str) -> str:
    """Check a member's public key and return it normalised: an Ed25519 key (32 raw
    bytes, base64, or PEM) as unpadded base64url; an SM2 key (PEM, 04||X||Y or X||Y
    in hex) as the 130 hex digits of 04||X||Y."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return _parse_pem_public_key(text)
    if len(text) in (128, gm.SM2_POINT_HEX) and _is_hex(text):
        return _sm2_point(text).hex()
    try:
        raw = _b64d(text)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise CryptoError(
            "not a public key: Ed25519 (32 bytes, base64) or SM2 (PEM, or 04||X||Y in hex)"
        ) from exc
    return _b64e(raw)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _sm2_point(text: str) -> bytes:
    try:
        return gm.sm2_point_from_text(text)
    except gm.NationalCryptoError as exc:
        raise CryptoError(str(exc)) from None


def _parse_pem_public_key(text: str) -> str:
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):  # SM2 is Tongsuo's, not cryptography's
        return _sm2_point(text).hex()
    if not isinstance(key, Ed25519PublicKey):
        raise CryptoError("the PEM key is neither Ed25519 nor SM2")
    return _b64e(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def generate_member_keypair(alg: str = SIGN_ALG) -> tuple[str, str]:
    """(private, public) keys for members' tools and tests: Ed25519 as base64 raw
    keys; SM2 as the private scalar and the 04||X||Y point, both in hex."""
    if alg == SM2_ALG:
        signer, raw_private = gm.SM2Signer.generate()
        return raw_private.hex(), signer.public_point().hex()
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _b64e(raw_private), _b64e(raw_public)


def sign_with_private_key(private: str, payload: bytes) -> str:
    """Sign as a member would, with a key from ``generate_member_keypair`` (SM2: 64 hex)."""
    if len(private) == 64 and _is_hex(private):
        return _b64e(gm.SM2Signer(bytes.fromhex(private)).sign(payload))
    return _b64e(Ed25519PrivateKey.from_private_bytes(_b64d(private)).sign(payload))


# -- the key ring file ---------------------------------------------------------
def _new_kid(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def new_ring_document(profile: str = DEFAULT_PROFILE) -> dict[str, Any]:
    """A new key ring of ``profile``'s keys: the international ones at the top level (the
    format of before), the national ones in a ``national`` section. A ring holds only the
    keys that wrote something: each one more is an index form more for every look-up."""
    if profile_named(profile).name == "national":
        return {"national": new_national_section()}
    return new_international_section()


def new_international_section() -> dict[str, Any]:
    """AES-256 data key, HMAC-SHA256 index and audit keys (256 bits), Ed25519 signing key."""
    data_kid, index_kid, audit_kid, sign_kid = (_new_kid(p) for p in ("d", "i", "a", "s"))
    signing = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return {
        "data_keys": {data_kid: new_secret()},
        "current_data_key": data_kid,
        "index_keys": {index_kid: new_secret()},
        "current_index_key": index_kid,
        "audit_key": {"kid": audit_kid, "key": new_secret()},
        "signing_key": {"kid": sign_kid, "key": _b64e(signing)},
    }


def new_national_section() -> dict[str, Any]:
    """SM4 data key (128 bits), HMAC-SM3 index and audit keys (256 bits), SM2 signing key."""
    data_kid, index_kid, audit_kid, sign_kid = (_new_kid(p) for p in ("gd", "gi", "ga", "gs"))
    _signer, private = gm.SM2Signer.generate()
    return {
        "data_keys": {data_kid: new_secret(gm.SM4_KEY_BYTES)},
        "current_data_key": data_kid,
        "index_keys": {index_kid: new_secret()},
        "current_index_key": index_kid,
        "audit_key": {"kid": audit_kid, "key": new_secret()},
        "signing_key": {"kid": sign_kid, "key": _b64e(private)},
    }


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise CryptoError(f"unknown crypto profile {name!r} (international or national)") from None


_NATIONAL_ALGS = {"data_keys": SM4_CIPHER_ALG, "index_keys": SM3_INDEX_ALG}


def ring_from_document(doc: dict[str, Any], profile: str = DEFAULT_PROFILE) -> KeyRing:
    """The ring of ``doc``, writing with ``profile``'s section and reading with every key."""
    chosen = profile_named(profile)
    try:
        national = doc.get("national")
        international = doc if "data_keys" in doc else None
        sections = [(s, s is national) for s in (international, national) if s is not None]
        current = national if chosen.name == "national" else international
        if current is None:
            raise CryptoError(
                f"the key ring has no {chosen.name} keys: "
                f"run exchange-hub keys rotate --profile {chosen.name}"
            )
        ring = KeyRing(
            data_keys={}, current_data_key=current["current_data_key"], index_keys={},
            current_index_key=current["current_index_key"],
            audit_key=(current["audit_key"]["kid"], _b64d(current["audit_key"]["key"])),
            signing_key=(current["signing_key"]["kid"], _signer_of(current, national is current)),
            profile=chosen,
        )  # fmt: skip
        for section, is_national in sections:
            _add_section(ring, section, national=is_national)
    except (KeyError, TypeError, ValueError) as exc:
        raise CryptoError(f"key ring is incomplete or malformed: {exc}") from exc
    return ring


def _signer_of(section: dict[str, Any], national: bool) -> Signer:
    raw = _b64d(section["signing_key"]["key"])
    return gm.SM2Signer(raw) if national else Ed25519Signer(raw)


def _add_section(ring: KeyRing, section: dict[str, Any], *, national: bool) -> None:
    """Every key of one profile's section into the ring, for reading."""
    for name, alg in _NATIONAL_ALGS.items():
        target: dict[str, bytes] = getattr(ring, name)
        for kid, text in section[name].items():
            if kid in ring.data_keys or kid in ring.index_keys:
                raise CryptoError(f"key id {kid} appears twice in the key ring")
            target[kid] = _b64d(text)
            if national:
                ring.key_algs[kid] = alg
    audit_kid = section["audit_key"]["kid"]
    ring.audit_keys[audit_kid] = _b64d(section["audit_key"]["key"])
    if national:
        ring.key_algs[audit_kid] = SM3_INDEX_ALG
    signer = _signer_of(section, national)
    ring.verify_keys[section["signing_key"]["kid"]] = (signer.alg, signer.public_point())


def load_key_ring(path: Path, *, create: bool, profile: str = DEFAULT_PROFILE) -> KeyRing:
    """The key ring in ``path``, writing with ``profile``; with ``create``, a new
    one when there is none yet (and a development ring gains the national keys
    when the national profile asks for them).

    Several processes starting at once (API nodes and workers on one data
    directory) all end up with the same keys: the file appears complete or not at
    all (written aside, then hard-linked into place, which fails when another
    process was first), and every process reads what is in place.
    """
    if not path.exists():
        if not create:
            raise CryptoError(f"key ring {path} does not exist (set HUB_KEYS_FILE)")
        write_ring_document(path, new_ring_document(profile), replace=False)
    doc = json.loads(path.read_text())
    if create and not _has_profile(doc, profile):
        add_profile_keys(path, profile)
        doc = json.loads(path.read_text())
    return ring_from_document(doc, profile)


def _has_profile(doc: dict[str, Any], profile: str) -> bool:
    return ("national" if profile_named(profile).name == "national" else "data_keys") in doc


@contextlib.contextmanager
def _ring_lock(path: Path) -> Iterator[None]:
    """One writer of the ring file at a time (an flock on its folder: no lock file left)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def add_profile_keys(path: Path, profile: str) -> dict[str, str]:
    """``keys rotate --profile``: give ``profile`` new keys to write with; old keys stay.

    A profile the ring has no keys for gets a whole set (data, index, audit,
    signing); one it has gets a new current data key. Returns the current ids.
    """
    chosen = profile_named(profile)
    with _ring_lock(path):
        doc = json.loads(path.read_text())
        if chosen.name == "national" and "national" not in doc:
            doc["national"] = new_national_section()
        elif not _has_profile(doc, chosen.name):
            doc.update(new_international_section())
        else:
            section = doc["national"] if chosen.name == "national" else doc
            kid = _new_kid("gd" if chosen.name == "national" else "d")
            size = gm.SM4_KEY_BYTES if chosen.name == "national" else 32
            section["data_keys"][kid] = new_secret(size)
            section["current_data_key"] = kid
        write_ring_document(path, doc)
    section = doc["national"] if chosen.name == "national" else doc
    return {
        "data": section["current_data_key"],
        "index": section["current_index_key"],
        "audit": section["audit_key"]["kid"],
        "signing": section["signing_key"]["kid"],
    }


def read_ring_document(path: Path) -> dict[str, Any]:
    """The key ring file's document, as written (for commands that compare or check it)."""
    try:
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CryptoError(f"{path} is not JSON") from exc
    if not isinstance(doc, dict):
        raise CryptoError(f"{path} does not hold a JSON object")
    return doc


def write_ring_document(path: Path, doc: dict[str, Any], *, replace: bool = True) -> None:
    """Write ``doc`` to ``path`` (mode 0600) whole: readers see the old file or the new one.

    ``replace=False`` leaves a file another process put there first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def add_data_key(path: Path, profile: str = DEFAULT_PROFILE) -> str:
    """Create a new data key of ``profile`` and make it current; old keys stay for decryption."""
    return add_profile_keys(path, profile)["data"]


def signing_string(method: str, path_qs: str, timestamp: str, body_digest: str) -> bytes:
    """What a signed request (a member's, or the hub's push) signs: method, path with
    query, Unix-seconds timestamp and the body's SHA-256, one per line."""
    return f"{method.upper()}\n{path_qs}\n{timestamp}\n{body_digest}".encode()

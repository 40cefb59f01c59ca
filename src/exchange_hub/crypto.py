"""All of the hub's cryptography; no other module imports ``cryptography``.

Every stored or sent artefact names its algorithm and key id, so keys rotate
and the installation can later move to the national SM2/SM3/SM4 profile
(GB/T 39786-2021) by adding algorithms here, without a data migration:

- ciphertext   ``A256GCM.<kid>.<base64url(nonce || ciphertext+tag)>``
- blind index  ``HS256.<kid>.<hex>``   (keyed hash for equality look-ups)
- signature    ``{"alg": "Ed25519", "kid": ..., "sig": base64url}``, and in the
  ``X-Hub-Signature`` header: unpadded base64url only (``decode_signature``)
- API key hash ``sha256.<hex>``        (keys are 256-bit random, not passwords)

The key ring is a JSON file named in settings (``HUB_KEYS_FILE``). The
embedded default generates a development ring on first start.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from binascii import b2a_base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from _hashlib import HASH

CIPHER_ALG = "A256GCM"
INDEX_ALG = "HS256"
SIGN_ALG = "Ed25519"


class CryptoError(Exception):
    """A ciphertext, signature or key that does not check out."""


SIGNATURE_BYTES = {SIGN_ALG: 64}  # RFC 8032 §5.1.6: R (32 bytes) || S (32 bytes)
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


@dataclass
class KeyRing:
    """Symmetric keys by id, the current ids, and the hub's signing key."""

    data_keys: dict[str, bytes]
    current_data_key: str
    index_keys: dict[str, bytes]
    current_index_key: str
    audit_key: tuple[str, bytes]
    signing_key: tuple[str, Ed25519PrivateKey]
    _aead: dict[str, tuple[AESGCM, str]] = field(default_factory=dict, repr=False)
    _hmac: dict[str, tuple[HASH, HASH, str]] = field(default_factory=dict, repr=False)

    # -- encryption at rest ---------------------------------------------------
    def encrypt(self, plaintext: str, context: str) -> str:
        """AES-GCM with the context (table.column) as associated data, so a
        ciphertext moved to another column does not decrypt."""
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
            if alg != CIPHER_ALG:
                raise CryptoError(f"unknown cipher {alg}")
            raw = _b64d(body)
            return self._cipher(kid).decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (ValueError, KeyError, InvalidTag) as exc:
            raise CryptoError("ciphertext does not decrypt") from exc

    def key_id_of(self, token: str) -> str:
        return token.split(".", 2)[1]

    def _cipher(self, kid: str) -> AESGCM:
        return self._sealer(kid)[0]

    def _sealer(self, kid: str) -> tuple[AESGCM, str]:
        """The key's cipher and its token prefix ``A256GCM.<kid>.``, made once per key."""
        sealer = self._aead.get(kid)
        if sealer is None:
            sealer = self._aead[kid] = (AESGCM(self.data_keys[kid]), f"{CIPHER_ALG}.{kid}.")
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
        """HMAC-SHA256 (RFC 2104) with the key schedule done once per key: the
        hashes of the padded key, copied for each value (as ``hmac`` does
        inside, without its per-call Python objects)."""
        kid = kid or self.current_index_key
        key = self.index_keys[kid]
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        state = (hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD)),
                 f"{INDEX_ALG}.{kid}.")  # fmt: skip
        self._hmac[kid] = state
        return state

    def all_blind_indexes(self, value: str) -> list[str]:
        """Every index form of a value, for look-ups during an index-key rotation."""
        data = value.encode()
        return [self.blind_index_of_bytes(data, kid) for kid in self.index_keys]

    def blind_indexes(self, value: str) -> tuple[str, list[str]]:
        """The current key's index of a value, and ``all_blind_indexes`` holding it."""
        data = value.encode()
        current = self.blind_index_of_bytes(data)
        if len(self.index_keys) == 1:  # the current key (or the line above raised)
            return current, [current]
        forms = [current if kid == self.current_index_key else self.blind_index_of_bytes(data, kid)
                 for kid in self.index_keys]  # fmt: skip
        return current, forms

    # -- audit chain ----------------------------------------------------------
    def chain_hash(self, previous: str, payload: bytes) -> str:
        """Keyed chain link: without the audit key nobody can re-forge the chain."""
        kid, key = self.audit_key
        mac = hmac.new(key, previous.encode() + b"\n" + payload, hashlib.sha256).hexdigest()
        return f"{INDEX_ALG}.{kid}.{mac}"

    # -- hub signatures -------------------------------------------------------
    def sign(self, payload: bytes) -> dict[str, str]:
        kid, key = self.signing_key
        return {"alg": SIGN_ALG, "kid": kid, "sig": _b64e(key.sign(payload))}

    def hub_public_key(self) -> dict[str, str]:
        kid, key = self.signing_key
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"alg": SIGN_ALG, "kid": kid, "public_key": _b64e(raw)}

    def verify_hub_signature(self, payload: bytes, signature: dict[str, str]) -> bool:
        public = self.hub_public_key()
        if signature.get("kid") != public["kid"] or signature.get("alg") != SIGN_ALG:
            return False
        return verify_ed25519(public["public_key"], payload, signature.get("sig", ""))


def decode_signature(text: str, alg: str = SIGN_ALG) -> bytes:
    """A signature's bytes from its one spelling: unpadded base64url (RFC 4648 §5).

    Padding, the standard alphabet, whitespace, other unused bits in the last
    character or a length other than the algorithm's are refused (the strict
    decoding of RFC 4648 §3.3 and §3.5): a signature that could be written
    several ways could be sent again looking new (issue 15, finding 1).
    """
    size = SIGNATURE_BYTES[alg]
    if len(text) != _b64_length(size) or not _BASE64URL_UNPADDED.fullmatch(text):
        raise CryptoError(f"is not the unpadded base64url of a {size}-byte {alg} signature")
    raw = _b64d(text)
    if _b64e(raw) != text:
        raise CryptoError("has unused bits set in its last character (not canonical base64url)")
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


def parse_public_key(public_key_b64: str) -> str:
    """Check a member's Ed25519 public key (32 raw bytes, base64) and return it normalised."""
    try:
        raw = _b64d(public_key_b64.strip())
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise CryptoError("not an Ed25519 public key (32 bytes, base64)") from exc
    return _b64e(raw)


def generate_member_keypair() -> tuple[str, str]:
    """(private, public) base64 raw Ed25519 keys; for members' tools and tests."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _b64e(raw_private), _b64e(raw_public)


def sign_with_private_key(private_b64: str, payload: bytes) -> str:
    return _b64e(Ed25519PrivateKey.from_private_bytes(_b64d(private_b64)).sign(payload))


# -- the key ring file ---------------------------------------------------------
def _new_kid(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def new_ring_document() -> dict[str, Any]:
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


def ring_from_document(doc: dict[str, Any]) -> KeyRing:
    try:
        return KeyRing(
            data_keys={k: _b64d(v) for k, v in doc["data_keys"].items()},
            current_data_key=doc["current_data_key"],
            index_keys={k: _b64d(v) for k, v in doc["index_keys"].items()},
            current_index_key=doc["current_index_key"],
            audit_key=(doc["audit_key"]["kid"], _b64d(doc["audit_key"]["key"])),
            signing_key=(
                doc["signing_key"]["kid"],
                Ed25519PrivateKey.from_private_bytes(_b64d(doc["signing_key"]["key"])),
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CryptoError(f"key ring is incomplete or malformed: {exc}") from exc


def load_key_ring(path: Path, *, create: bool) -> KeyRing:
    """The key ring in ``path``; with ``create``, a new one when there is none yet.

    Several processes starting at once (API nodes and workers on one data
    directory) all end up with the same keys: the file appears complete or not at
    all (written aside, then hard-linked into place, which fails when another
    process was first), and every process reads what is in place.
    """
    if not path.exists():
        if not create:
            raise CryptoError(f"key ring {path} does not exist (set HUB_KEYS_FILE)")
        write_ring_document(path, new_ring_document(), replace=False)
    return ring_from_document(json.loads(path.read_text()))


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


def add_data_key(path: Path) -> str:
    """Create a new data key and make it current; old keys stay for decryption."""
    doc = json.loads(path.read_text())
    kid = _new_kid("d")
    doc["data_keys"][kid] = new_secret()
    doc["current_data_key"] = kid
    write_ring_document(path, doc)
    return kid


def signing_string(method: str, path_qs: str, timestamp: str, body_digest: str) -> bytes:
    """What a signed request (a member's, or the hub's push) signs: method, path with
    query, Unix-seconds timestamp and the body's SHA-256, one per line."""
    return f"{method.upper()}\n{path_qs}\n{timestamp}\n{body_digest}".encode()

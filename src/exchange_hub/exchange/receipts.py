"""Hub receipts: the hub's signed statement that it accepted a message (SPEC §7).

As in X-Road, the sender keeps proof of what it sent and when: the receipt
carries the SHA-256 digest of the canonical JSON of the accepted message and
the acceptance time, signed with the hub's Ed25519 key. The signed bytes are
the canonical JSON (sorted keys, no spaces, UTF-8) of every receipt field
except ``signature``, so anyone holding the hub's public key can check one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from exchange_hub import crypto
from exchange_hub.crypto import KeyRing


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def message_digest(content: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of the message as accepted."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


def signed_part(receipt: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in receipt.items() if k != "signature"})


def issue_receipt(
    keyring: KeyRing,
    *,
    message_id: uuid.UUID,
    digest: str,
    accepted_at: datetime,
    from_region: str,
    to_region: str,
) -> dict[str, Any]:
    receipt: dict[str, Any] = {
        "message_id": str(message_id),
        "digest": digest,
        "accepted_at": accepted_at.isoformat(),
        "from_region": from_region,
        "to_region": to_region,
    }
    receipt["signature"] = keyring.sign(signed_part(receipt))
    return receipt


def verify_receipt(keyring: KeyRing, receipt: dict[str, Any]) -> bool:
    """True when the receipt was signed by this hub's key and is unaltered."""
    signature = receipt.get("signature")
    if not isinstance(signature, dict):
        return False
    return keyring.verify_hub_signature(signed_part(receipt), signature)


def verify_receipt_with_key(public_key: str, receipt: dict[str, Any]) -> bool:
    """The same check for a member that holds only the hub's public key: Ed25519 in
    base64, or SM2 as PEM or 04||X||Y hex (``crypto.parse_public_key``)."""
    signature = receipt.get("signature")
    if not isinstance(signature, dict):
        return False
    try:
        stored = crypto.parse_public_key(public_key)
    except crypto.CryptoError:
        return False
    if signature.get("alg") != crypto.public_key_alg(stored):
        return False
    return crypto.verify_with_stored_key(stored, signed_part(receipt), signature.get("sig", ""))


def extract_receipt(document: Any) -> dict[str, Any] | None:
    """Accept a bare receipt or a whole ``POST /messages`` response holding one."""
    if isinstance(document, dict) and isinstance(document.get("receipt"), dict):
        return document["receipt"]  # type: ignore[no-any-return]
    if isinstance(document, dict) and "signature" in document:
        return document
    return None

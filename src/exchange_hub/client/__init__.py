"""A typed client for the hub (issue 21): what every county system would otherwise write.

``HubClient`` covers every member-facing route with the hub's own schemas;
``transport`` signs, retries and keeps writes idempotent; ``errors`` is the one
exception tree, each error carrying the hub's problem document.
"""

from exchange_hub.client.api import HubClient, batch_key, media_type_of
from exchange_hub.client.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    HubClientError,
    HubRefused,
    HubUnreachable,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    UnavailableError,
    UnexpectedAnswer,
    UnsupportedMediaError,
)
from exchange_hub.client.signing import (
    Ed25519Signer,
    RequestSigner,
    Signer,
    SM2Signer,
    load_signer,
)
from exchange_hub.client.transport import RetryPolicy, Transport

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "Ed25519Signer",
    "ForbiddenError",
    "HubClient",
    "HubClientError",
    "HubRefused",
    "HubUnreachable",
    "InvalidInputError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RequestSigner",
    "RetryPolicy",
    "SM2Signer",
    "Signer",
    "Transport",
    "UnavailableError",
    "UnexpectedAnswer",
    "UnsupportedMediaError",
    "batch_key",
    "load_signer",
    "media_type_of",
]  # fmt: skip

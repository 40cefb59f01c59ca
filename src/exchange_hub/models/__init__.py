"""Every ORM table, imported here so Alembic sees one metadata."""

from exchange_hub.models.audit import AuditEvent
from exchange_hub.models.base import Base
from exchange_hub.models.idempotency import IdempotencyKey
from exchange_hub.models.member import Member, SeenSignature
from exchange_hub.models.region import Region

__all__ = ["AuditEvent", "Base", "IdempotencyKey", "Member", "Region", "SeenSignature"]

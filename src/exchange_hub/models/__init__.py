"""Every ORM table, imported here so Alembic sees one metadata.

Each domain owns its model module; add new modules to the import list below.
"""

from exchange_hub.models.audit import AuditEvent, AuthFailureCount
from exchange_hub.models.base import Base
from exchange_hub.models.change import Change
from exchange_hub.models.console import (
    ConsoleOidcSignIn,
    ConsoleSession,
    ConsoleSignInGuard,
    ConsoleUser,
)
from exchange_hub.models.crypto import ReencryptProgress
from exchange_hub.models.holiday import CalendarDay, CalendarRevision, CalendarYear
from exchange_hub.models.idempotency import IdempotencyKey
from exchange_hub.models.member import Member, SeenSignature
from exchange_hub.models.message import Message, MessageEvent, PushDelivery
from exchange_hub.models.metrics import (
    AppliedMessage,
    ExchangeCount,
    LatencyHistogram,
    PendingCount,
    RefreshState,
)
from exchange_hub.models.ratelimit import RateLimitWindow
from exchange_hub.models.record import Record, RecordVersion
from exchange_hub.models.region import Region
from exchange_hub.models.report import DepartmentReport, DepartmentReportVersion, ReportingPair
from exchange_hub.models.scorecard import ScorecardSetting

__all__ = [
    "AppliedMessage",
    "AuditEvent",
    "AuthFailureCount",
    "Base",
    "CalendarDay",
    "CalendarRevision",
    "CalendarYear",
    "Change",
    "ConsoleOidcSignIn",
    "ConsoleSession",
    "ConsoleSignInGuard",
    "ConsoleUser",
    "DepartmentReport",
    "DepartmentReportVersion",
    "ExchangeCount",
    "IdempotencyKey",
    "LatencyHistogram",
    "Member",
    "Message",
    "MessageEvent",
    "PendingCount",
    "PushDelivery",
    "RateLimitWindow",
    "Record",
    "RecordVersion",
    "ReencryptProgress",
    "RefreshState",
    "Region",
    "ReportingPair",
    "ScorecardSetting",
    "SeenSignature",
]

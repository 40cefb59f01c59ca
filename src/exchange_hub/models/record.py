"""Person records: outflow (流出登记) and inflow (流入登记) registrations, and their history.

Person data is stored only encrypted (AES-GCM through the key ring, the
associated data is ``records.<column>``): ``name_enc``, ``id_number_enc``,
``phone_enc``, ``address_enc``. Equality look-ups go through keyed hashes
(blind indexes): ``id_index`` (the 18-character ID number) and
``name_index`` (the normalised name, for name + birth date + sex candidates).
``data_key_id`` names the data key the row is encrypted with, so
``exchange-hub keys rotate`` finds the rows still on an old key.

Data-quality columns, counted per county by the metrics work (SPEC §5):

- ``id_check_flagged`` — the ID number's check character is wrong and was
  accepted under the ``lenient`` policy;
- ``id_converted`` — a legacy 15-digit number was converted to 18 digits;
- ``hukou_missing`` — an inflow sent without ``hukou_region`` (the hub then
  routes by the ID number's prefix, SPEC §2).

Counting them for county C: ``registering_region = C`` (optionally only
``status = 'active'``).

History: the row is always the newest version (``version``,
``version_action``, ``updated_at``, ``updated_by``). Before a change
overwrites it, the previous version is copied, encrypted as a whole, into
``record_versions``; so versions 1..n-1 live there and version n on the row,
and creating a record (the bulk of every batch) writes one row only.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    SQLColumnExpression,
    String,
    Text,
    Uuid,
    and_,
    literal_column,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from exchange_hub.models.audit import AuditId
from exchange_hub.models.base import Base, UTCDateTime, new_id

RECORD_KINDS = ("outflow", "inflow")
RECORD_STATUSES = ("active", "deregistered")

# The predicates of the two partial indexes on id_index (they split the table).
ACTIVE = "status = 'active'"
RETIRED = "status <> 'active'"

# A keyed hash in ASCII hex: compared bytewise on PostgreSQL.
BLIND_INDEX = String(90).with_variant(String(90, collation="C"), "postgresql")


class Record(Base):
    """One registration of a person by the county on its registering side.

    ``registering_region`` is the county that owns (writes) the record: the
    ``hukou_region`` of an outflow, the ``residence_region`` of an inflow.
    ``other_region`` is the other *county* named in the record (an outflow's
    destination may be only a province, then it is empty); both may read it.
    At most one active record per (registering county, kind, person): a
    re-push updates it. Indexes are few and cheap on purpose, since every one
    costs each row of a batch (``bench/record_indexes.py``):

    - ``uq_records_active_person`` (id_index, kind, registering_region),
      partial on active rows: the uniqueness rule, and every look-up of
      active records by person;
    - ``ix_records_id_index_retired`` (id_index), partial on the other rows:
      a batch of new active rows never touches it. A look-up over all
      statuses names both halves (``any_status``), and the status is written
      into the SQL (``is_active``), so that PostgreSQL proves the predicates;
    - ``ix_records_county_updated`` (registering_region, updated_at): the
      per-county queries, and the batch's change-feed append (county and
      batch time); a batch appends at its right edge;
    - ``ix_records_name_lookup`` (name_index, birth_date).

    The blind indexes are ASCII hex, so on PostgreSQL ``id_index`` and
    ``name_index`` compare bytewise (``COLLATE "C"``) instead of through the
    database's locale. Ids from ``new_id`` are UUIDv7, so that the primary
    key grows at its right edge too.
    """

    __tablename__ = "records"
    __table_args__ = (
        Index(
            "uq_records_active_person",
            "id_index",
            "kind",
            "registering_region",
            unique=True,
            postgresql_where=text(ACTIVE),
            sqlite_where=text(ACTIVE),
        ),
        Index(
            "ix_records_id_index_retired",
            "id_index",
            postgresql_where=text(RETIRED),
            sqlite_where=text(RETIRED),
        ),
        Index("ix_records_county_updated", "registering_region", "updated_at"),
        Index("ix_records_name_lookup", "name_index", "birth_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(14), default="active")
    registering_region: Mapped[str] = mapped_column(String(6))
    other_region: Mapped[str | None] = mapped_column(String(6))
    hukou_region: Mapped[str | None] = mapped_column(String(6))
    residence_region: Mapped[str | None] = mapped_column(String(6))
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    id_index: Mapped[str] = mapped_column(BLIND_INDEX)
    name_index: Mapped[str] = mapped_column(BLIND_INDEX)
    content_index: Mapped[str] = mapped_column(String(90))
    data_key_id: Mapped[str] = mapped_column(String(40))
    id_number_enc: Mapped[str] = mapped_column(Text)
    name_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    address_enc: Mapped[str | None] = mapped_column(Text)

    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(Date)
    ethnicity: Mapped[str | None] = mapped_column(String(2))
    marital_status: Mapped[str | None] = mapped_column(String(2))
    moved_on: Mapped[date | None] = mapped_column(Date)

    certificate_number: Mapped[str | None] = mapped_column(String(40))
    certificate_issued_by: Mapped[str | None] = mapped_column(String(6))
    certificate_issued_on: Mapped[date | None] = mapped_column(Date)
    certificate_valid_until: Mapped[date | None] = mapped_column(Date)
    certificate_checked: Mapped[bool | None] = mapped_column(Boolean)
    children_count: Mapped[int | None] = mapped_column(Integer)
    contraception: Mapped[str | None] = mapped_column(String(16))
    pregnancy_status: Mapped[str | None] = mapped_column(String(16))
    last_birth_date: Mapped[date | None] = mapped_column(Date)
    key_object: Mapped[bool] = mapped_column(Boolean, default=False)
    key_reasons: Mapped[str | None] = mapped_column(String(100))

    id_check_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    id_converted: Mapped[bool] = mapped_column(Boolean, default=False)
    hukou_missing: Mapped[bool] = mapped_column(Boolean, default=False)

    deregister_reason: Mapped[str | None] = mapped_column(String(16))
    deregistered_on: Mapped[date | None] = mapped_column(Date)

    version: Mapped[int] = mapped_column(Integer, default=1)
    version_action: Mapped[str] = mapped_column(String(14))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


def is_active(status: SQLColumnExpression[str]) -> ColumnElement[bool]:
    """``status = 'active'`` with the value written into the SQL: a bound
    parameter proves no partial index's predicate in a generic plan (psycopg
    prepares a statement after five runs). ``status``: the ``status`` column
    of ``Record``, of an alias of it or of the records table."""
    return status == literal_column("'active'")


def any_status(
    status: SQLColumnExpression[str], condition: ColumnElement[bool]
) -> ColumnElement[bool]:
    """``condition`` on ``id_index`` over every status (``status``: as in
    ``is_active``), phrased as the two halves the partial indexes cover so that
    PostgreSQL can combine them (BitmapOr); a bare ``id_index IN …`` implies
    neither predicate."""
    retired = status != literal_column("'active'")
    return or_(and_(is_active(status), condition), and_(retired, condition))


class RecordVersion(Base):
    """A superseded version of a record: ``snapshot`` is the encrypted JSON of
    its read form (context ``record_versions.snapshot``)."""

    __tablename__ = "record_versions"
    __table_args__ = (Index("uq_record_versions_version", "record_id", "version", unique=True),)

    id: Mapped[int] = mapped_column(AuditId, primary_key=True, autoincrement=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(14))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    data_key_id: Mapped[str] = mapped_column(String(40), index=True)
    snapshot: Mapped[str] = mapped_column(Text)

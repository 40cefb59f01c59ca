"""Records inserted directly with chosen registration times (no person data needed here)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from exchange_hub.crypto import KeyRing
from exchange_hub.models.record import Record


def record_row(
    ring: KeyRing,
    *,
    kind: str,
    county: str,
    created_at: datetime,
    birth_date: date = date(1990, 5, 1),
    certificate_checked: bool | None = None,
    certificate_number: str | None = None,
    deregister_reason: str | None = None,
) -> dict[str, Any]:
    ident = uuid.uuid4()
    number = f"{uuid.uuid4().int % 10**17:017d}X"
    return {
        "id": ident, "kind": kind, "status": "deregistered" if deregister_reason else "active",
        "registering_region": county, "other_region": None,
        "hukou_region": county if kind == "outflow" else "110105",
        "residence_region": county if kind == "inflow" else None, "member_id": None,
        "id_index": ring.blind_index(number), "name_index": ring.blind_index(str(ident)),
        "content_index": ring.blind_index("c" + str(ident)), "data_key_id": ring.current_data_key,
        "id_number_enc": ring.encrypt(number, "records.id_number"),
        "name_enc": ring.encrypt("测试", "records.name"), "phone_enc": None, "address_enc": None,
        "sex": "F", "birth_date": birth_date, "ethnicity": None, "marital_status": None,
        "moved_on": None, "certificate_number": certificate_number,
        "certificate_issued_by": None, "certificate_issued_on": None,
        "certificate_valid_until": None, "certificate_checked": certificate_checked,
        "children_count": None, "contraception": None, "pregnancy_status": None,
        "last_birth_date": None, "key_object": False, "key_reasons": None,
        "id_check_flagged": False, "id_converted": False, "hukou_missing": False,
        "deregister_reason": deregister_reason, "deregistered_on": None, "version": 1,
        "version_action": "created", "created_at": created_at, "updated_at": created_at,
        "updated_by": "test",
    }  # fmt: skip


def make_records(session: Session, ring: KeyRing, specs: list[dict[str, Any]]) -> None:
    session.execute(insert(Record), [record_row(ring, **spec) for spec in specs])

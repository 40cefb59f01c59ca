"""From a pushed record to stored column values, and back to its read form.

Shared by the single-record service and the batch path, so both check,
encrypt and index a record in exactly the same way.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange_hub import identity
from exchange_hub.crypto import INDEX_ALG, KeyRing
from exchange_hub.errors import Forbidden, InvalidInput
from exchange_hub.members.scope import Caller
from exchange_hub.models import Region
from exchange_hub.records.schemas import RecordIn
from exchange_hub.regions.catalogue import level_of
from exchange_hub.regions.service import normalise_code

ENCRYPTED = {
    "id_number": "records.id_number",
    "name": "records.name",
    "phone": "records.phone",
    "address": "records.address",
}
SNAPSHOT_CONTEXT = "record_versions.snapshot"
LONG_ACTING = frozenset({"iud", "sterilisation", "implant"})
_MIDDLE_DOTS = str.maketrans({c: "·" for c in "•‧∙・.．"})
PERSON_PLAIN = (
    "sex", "birth_date", "ethnicity", "marital_status", "children_count",
    "contraception", "pregnancy_status", "last_birth_date",
)  # fmt: skip


class RegionBook:
    """The region catalogue as ``code → (level, active)``: loaded whole for a
    batch, looked up code by code (and remembered) for a single record."""

    def __init__(self, session: Session, *, preload: bool = False) -> None:
        self._session = session
        self._known: dict[str, tuple[str, bool] | None] = {}
        if preload:
            rows = session.execute(select(Region.code, Region.level, Region.active))
            self._known = {code: (level, active) for code, level, active in rows}
            self._complete = True
        else:
            self._complete = False

    @classmethod
    def complete(cls, known: dict[str, tuple[str, bool]]) -> RegionBook:
        """A whole catalogue already read (handed to the batch's checking processes)."""
        book = cls.__new__(cls)
        book._session, book._known, book._complete = None, dict(known), True  # type: ignore[assignment]
        return book

    def whole(self) -> dict[str, tuple[str, bool]]:
        """The catalogue as ``code → (level, active)`` (a preloaded book only)."""
        if not self._complete:
            raise RuntimeError("the region book was not preloaded")
        return {code: info for code, info in self._known.items() if info is not None}

    def info(self, code: str) -> tuple[str, bool] | None:
        if code not in self._known and not self._complete:
            region = self._session.get(Region, code)
            self._known[code] = (region.level, region.active) if region else None
        return self._known.get(code)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code != "000000" and self.info(code) is not None

    def is_current_county(self, code: str) -> bool:
        return self.info(code) == ("county", True)


@dataclass
class WriteContext:
    """What checking a record needs besides the record: who, keys, policy, today."""

    caller: Caller
    keyring: KeyRing
    policy: str
    today: date
    regions: RegionBook
    extra: dict[str, Any] = field(default_factory=dict)


def normalise_name(name: str) -> str:
    """Names compare after NFKC, without spaces, with one kind of middle dot (·)."""
    folded = unicodedata.normalize("NFKC", name).translate(_MIDDLE_DOTS)
    return "".join(folded.split()).casefold()


def name_index(keyring: KeyRing, name: str, kid: str | None = None) -> str:
    return keyring.blind_index("name:" + normalise_name(name), kid)


def name_indexes(keyring: KeyRing, name: str) -> list[str]:
    return [name_index(keyring, name, kid) for kid in keyring.index_keys]


def key_reasons(values: dict[str, Any], today: date) -> list[str]:
    """重点对象 (key object): pregnant, gave birth this year, no valid certificate,
    or a known contraception method that is not long-acting (SPEC §3)."""
    reasons = []
    if values.get("pregnancy_status") == "pregnant":
        reasons.append("pregnant")
    last_birth = values.get("last_birth_date")
    if last_birth is not None and last_birth.year == today.year:
        reasons.append("gave_birth_this_year")
    valid_until = values.get("certificate_valid_until")
    if not values.get("certificate_number") or (valid_until is not None and valid_until < today):
        reasons.append("no_valid_certificate")
    method = values.get("contraception")
    if method is not None and method not in LONG_ACTING:
        reasons.append("no_long_acting_contraception")
    return reasons


@dataclass
class Prepared:
    """A checked record: its column values, and every blind index of its ID number
    (one per index key, so a re-push is found during an index-key rotation)."""

    columns: dict[str, Any]
    id_indexes: list[str]


def prepare(ctx: WriteContext, body: RecordIn) -> Prepared:
    """Check a record and return its column values, encrypted and indexed.

    Raises ``InvalidInput`` (field named) or ``Forbidden`` when the caller is
    not the registering side.
    """
    values = _regions(ctx, body)
    person = body.person
    number = identity.parse_id_number(
        person.id_number, policy=ctx.policy, regions=ctx.regions, today=ctx.today
    )
    identity.require_agreement(number, birth_date=person.birth_date, sex=person.sex)
    prefix = number.region_prefix
    if values["hukou_missing"] and prefix != values["registering_region"]:
        # SPEC §2: without hukou_region, the ID number's prefix routes if it is a current county.
        values["other_region"] = prefix if ctx.regions.is_current_county(prefix) else None
    values.update(_person_plain(body, number))
    values.update(_certificate(ctx, body))
    plain = {"id_number": number.number, "name": person.name,
             "phone": person.phone or None, "address": person.address or None}  # fmt: skip
    values["content_index"] = _content_index(ctx.keyring, values, plain)
    values.update(_encrypted(ctx.keyring, plain))
    indexes = ctx.keyring.all_blind_indexes(number.number)
    current = f"{INDEX_ALG}.{ctx.keyring.current_index_key}."
    values["id_index"] = next(i for i in indexes if i.startswith(current))
    values["name_index"] = name_index(ctx.keyring, person.name)
    values["id_check_flagged"] = number.check_flagged
    values["id_converted"] = number.converted
    reasons = key_reasons(values, ctx.today)
    values["key_object"], values["key_reasons"] = bool(reasons), ",".join(reasons) or None
    return Prepared(values, indexes)


def _regions(ctx: WriteContext, body: RecordIn) -> dict[str, Any]:
    own = ctx.caller.region
    if body.kind == "outflow":
        hukou = _code(body.hukou_region or own, "hukou_region")
        _require_registering(hukou, own, "hukou_region", "outflows of residents of")
        residence = _optional_region(ctx, body.residence_region, "residence_region")
        other = residence if residence and level_of(residence) == "county" else None
        return _region_values(body.kind, hukou, residence, own, other, hukou_missing=False)
    residence = _code(body.residence_region or own, "residence_region")
    _require_registering(residence, own, "residence_region", "inflows of arrivals in")
    hukou = None
    if body.hukou_region:
        hukou = _code(body.hukou_region, "hukou_region")
        if not ctx.regions.is_current_county(hukou):
            raise InvalidInput(
                f"hukou_region {hukou} is not a current county of the catalogue",
                field="hukou_region",
            )
    return _region_values(body.kind, hukou, residence, own, hukou, hukou_missing=hukou is None)


def _region_values(
    kind: str, hukou: str | None, residence: str | None, own: str, other: str | None,
    *, hukou_missing: bool,
) -> dict[str, Any]:  # fmt: skip
    return {
        "kind": kind, "hukou_region": hukou, "residence_region": residence,
        "registering_region": own, "other_region": other if other != own else None,
        "hukou_missing": hukou_missing,
    }  # fmt: skip


def _code(code: str, field_name: str) -> str:
    """A region code in its 6-digit form (the common case skips the full check)."""
    if len(code) == 6 and code.isdigit():
        return code
    return normalise_code(code, field=field_name)


def _require_registering(code: str, own: str, field_name: str, what: str) -> None:
    if code != own:
        raise Forbidden(
            f"{field_name} {code}: you may only register {what} your own county {own}",
            field=field_name,
        )


def _optional_region(ctx: WriteContext, code: str | None, field_name: str) -> str | None:
    if not code:
        return None
    code = _code(code, field_name)
    info = ctx.regions.info(code)
    if info is None or code == "000000":
        raise InvalidInput(
            f"{field_name} {code} is not in the GB/T 2260 catalogue", field=field_name
        )
    if not info[1]:
        raise InvalidInput(f"{field_name} {code} is an abolished region", field=field_name)
    return code


def _person_plain(body: RecordIn, number: identity.IdNumber) -> dict[str, Any]:
    person = body.person
    return {
        "sex": number.sex, "birth_date": number.birth_date,
        "ethnicity": person.ethnicity, "marital_status": person.marital_status,
        "children_count": person.children_count, "contraception": person.contraception,
        "pregnancy_status": person.pregnancy_status, "last_birth_date": person.last_birth_date,
        "moved_on": body.moved_on, "certificate_checked": body.certificate_checked,
    }  # fmt: skip


def _certificate(ctx: WriteContext, body: RecordIn) -> dict[str, Any]:
    cert = body.certificate
    issued_by = None
    if cert is not None and cert.issued_by:
        issued_by = _code(cert.issued_by, "certificate.issued_by")
        if issued_by not in ctx.regions:
            raise InvalidInput(
                f"certificate.issued_by {issued_by} is not in the GB/T 2260 catalogue",
                field="certificate.issued_by",
            )
    if cert and cert.issued_on and cert.valid_until and cert.valid_until < cert.issued_on:
        raise InvalidInput(
            "certificate.valid_until is before certificate.issued_on",
            field="certificate.valid_until",
        )
    return {
        "certificate_number": (cert.number or None) if cert else None,
        "certificate_issued_by": issued_by,
        "certificate_issued_on": cert.issued_on if cert else None,
        "certificate_valid_until": cert.valid_until if cert else None,
    }


def _content_index(keyring: KeyRing, values: dict[str, Any], plain: dict[str, Any]) -> str:
    """A keyed hash of everything a push says: an identical re-push changes nothing."""
    content = orjson.dumps({**values, **plain}, option=orjson.OPT_SORT_KEYS)
    return keyring.blind_index("content:" + content.decode())


def _encrypted(keyring: KeyRing, plain: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"data_key_id": keyring.current_data_key}
    for name, context in ENCRYPTED.items():
        value = plain[name]
        out[f"{name}_enc"] = keyring.encrypt(value, context) if value is not None else None
    return out


def decrypted(keyring: KeyRing, row: Any) -> dict[str, str | None]:
    """The four encrypted fields of a row (ORM object or Core row), in clear."""
    out: dict[str, str | None] = {}
    for name, context in ENCRYPTED.items():
        token = getattr(row, f"{name}_enc")
        out[name] = keyring.decrypt(token, context) if token is not None else None
    return out


def read_form(keyring: KeyRing, row: Any) -> dict[str, Any]:
    """The ``RecordRead`` form of a row."""
    clear = decrypted(keyring, row)
    person = {**clear, **{name: getattr(row, name) for name in PERSON_PLAIN}}
    person["phone"], person["address"] = person.pop("phone"), person.pop("address")
    certificate = None
    if row.certificate_number or row.certificate_issued_by or row.certificate_valid_until:
        certificate = {
            "number": row.certificate_number, "issued_by": row.certificate_issued_by,
            "issued_on": row.certificate_issued_on, "valid_until": row.certificate_valid_until,
        }  # fmt: skip
    deregistration = None
    if row.status == "deregistered":
        deregistration = {"reason": row.deregister_reason, "on": row.deregistered_on}
    return {
        "id": row.id, "kind": row.kind, "status": row.status, "version": row.version,
        "person": person, "hukou_region": row.hukou_region,
        "residence_region": row.residence_region, "registering_region": row.registering_region,
        "other_region": row.other_region, "moved_on": row.moved_on, "certificate": certificate,
        "certificate_checked": row.certificate_checked, "key_object": row.key_object,
        "key_reasons": row.key_reasons.split(",") if row.key_reasons else [],
        "quality": {"id_check_flagged": row.id_check_flagged, "id_converted": row.id_converted,
                    "hukou_missing": row.hukou_missing},
        "deregistration": deregistration, "created_at": row.created_at,
        "updated_at": row.updated_at,
    }  # fmt: skip


def input_form(read: dict[str, Any]) -> dict[str, Any]:
    """The ``RecordIn`` form of a read form, so a patch can be merged and re-checked."""
    person = {k: v for k, v in read["person"].items() if v is not None}
    out = {
        "kind": read["kind"], "person": person, "hukou_region": read["hukou_region"],
        "residence_region": read["residence_region"], "moved_on": read["moved_on"],
        "certificate": read["certificate"], "certificate_checked": read["certificate_checked"],
    }  # fmt: skip
    return out


def snapshot(keyring: KeyRing, read: dict[str, Any]) -> str:
    return keyring.encrypt(orjson.dumps(read).decode(), SNAPSHOT_CONTEXT)


def from_snapshot(keyring: KeyRing, token: str) -> dict[str, Any]:
    return orjson.loads(keyring.decrypt(token, SNAPSHOT_CONTEXT))  # type: ignore[no-any-return]

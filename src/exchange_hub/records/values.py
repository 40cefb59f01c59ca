"""From a pushed record to stored column values, and back to its read form.

Shared by the single-record service and the batch path, so both check,
encrypt and index a record in exactly the same way.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson

from exchange_hub import id_numbers
from exchange_hub.crypto import KeyRing
from exchange_hub.errors import Forbidden, InvalidInput
from exchange_hub.records.schemas import Certificate, RecordIn
from exchange_hub.region_codes import level_of, normalise_code
from exchange_hub.scope import Caller

if TYPE_CHECKING:  # the database layer is imported where it is used: the batch-checking
    # processes run ``prepare`` with a catalogue handed to them, and stay light
    from sqlalchemy.orm import Session

ENCRYPTED = {
    "id_number": "records.id_number",
    "name": "records.name",
    "phone": "records.phone",
    "address": "records.address",
}
_ID_CONTEXT, _NAME_CONTEXT, _PHONE_CONTEXT, _ADDRESS_CONTEXT = ENCRYPTED.values()
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
        self._complete = False
        if preload:
            from exchange_hub.regions import service as regions

            self._set_complete(dict(regions.catalogue_facts(session)))

    @classmethod
    def complete(cls, known: dict[str, tuple[str, bool]]) -> RegionBook:
        """A whole catalogue already read (handed to the batch's checking processes)."""
        book = cls.__new__(cls)
        book._session = None  # type: ignore[assignment]
        book._set_complete(dict(known))
        return book

    def _set_complete(self, known: dict[str, tuple[str, bool] | None]) -> None:
        self._known, self._complete = known, True
        self._present = frozenset(c for c, info in known.items() if info and c != "000000")

    def whole(self) -> dict[str, tuple[str, bool]]:
        """The catalogue as ``code → (level, active)`` (a preloaded book only)."""
        if not self._complete:
            raise RuntimeError("the region book was not preloaded")
        return {code: info for code, info in self._known.items() if info is not None}

    def info(self, code: str) -> tuple[str, bool] | None:
        info = self._known.get(code)
        if info is None and not self._complete and code not in self._known:
            from exchange_hub.models import Region

            region = self._session.get(Region, code)
            info = self._known[code] = (region.level, region.active) if region else None
        return info

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        if self._complete:
            return code in self._present
        return code != "000000" and self.info(code) is not None

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
    return keyring.blind_index_of_bytes(("name:" + normalise_name(name)).encode(), kid)


def name_indexes(keyring: KeyRing, name: str) -> list[str]:
    return [name_index(keyring, name, kid) for kid in keyring.index_keys]


def key_reasons(values: dict[str, Any], today: date) -> list[str]:
    """重点对象 (key object): pregnant, gave birth this year, no valid certificate,
    or a known contraception method that is not long-acting (SPEC §3)."""
    return _key_reasons(
        values.get("pregnancy_status"), values.get("last_birth_date"),
        values.get("certificate_number"), values.get("certificate_valid_until"),
        values.get("contraception"), today,
    )  # fmt: skip


def _key_reasons(
    pregnancy: str | None, last_birth: date | None, certificate: str | None,
    valid_until: date | None, method: str | None, today: date,
) -> list[str]:  # fmt: skip
    reasons = []
    if pregnancy == "pregnant":
        reasons.append("pregnant")
    if last_birth is not None and last_birth.year == today.year:
        reasons.append("gave_birth_this_year")
    if not certificate or (valid_until is not None and valid_until < today):
        reasons.append("no_valid_certificate")
    if method is not None and method not in LONG_ACTING:
        reasons.append("no_long_acting_contraception")
    return reasons


@dataclass
class Prepared:
    """A checked record: its column values, and every blind index of its ID number
    (one per index key, so a re-push is found during an index-key rotation)."""

    columns: dict[str, Any]
    id_indexes: list[str]
    # every form of the content index, current first: an identical re-push of a row
    # not yet moved to the current index key (a rotation, a change of profile) is unchanged
    content_indexes: list[str]


# A validated model keeps its fields in ``__dict__``: read them all at once
# (an attribute of a Pydantic model goes through its ``__getattr__`` hook).
_RECORD_FIELDS = itemgetter("kind", "person", "hukou_region", "residence_region", "moved_on",
                            "certificate", "certificate_checked")  # fmt: skip
_PERSON_FIELDS = itemgetter(
    "id_number", "name", "sex", "birth_date", "ethnicity", "marital_status", "phone", "address",
    "children_count", "contraception", "pregnancy_status", "last_birth_date",
)  # fmt: skip
_CERTIFICATE_FIELDS = itemgetter("number", "issued_by", "issued_on", "valid_until")


def prepare(ctx: WriteContext, body: RecordIn) -> Prepared:
    """Check a record and return its column values, encrypted and indexed.

    Raises ``InvalidInput`` (field named) or ``Forbidden`` when the caller is
    not the registering side. The checks run in a fixed order (regions, the
    ID number, the certificate): a record with several faults is refused for
    the first. Every line of a batch comes through here, so it is one
    function that reads each field once into a local and builds the content
    dict once; the columns are the content with the four fields in clear
    traded for their ciphertexts, and the indexes and flags added.
    """
    kind, person, hukou_sent, residence_sent, moved_on, cert, cert_checked = _RECORD_FIELDS(
        body.__dict__
    )
    (raw_id, name, sex_sent, birth_sent, ethnicity, marital, phone, address, children,
     contraception, pregnancy, last_birth) = _PERSON_FIELDS(person.__dict__)  # fmt: skip
    regions, today = ctx.regions, ctx.today
    own = ctx.caller.region
    hukou, residence, other = _regions(regions, own, kind, hukou_sent, residence_sent)
    number = id_numbers.parse_id_number(raw_id, policy=ctx.policy, regions=regions, today=today)
    id_numbers.require_agreement(number, birth_date=birth_sent, sex=sex_sent)
    id_number, birth, sex, prefix, flagged, converted = number
    hukou_missing = kind == "inflow" and hukou is None
    if hukou_missing and prefix != own:
        # SPEC §2: without hukou_region, the ID number's prefix routes if it is a current county.
        other = prefix if regions.is_current_county(prefix) else None
    cert_number, issued_by, issued_on, valid_until = _certificate(regions, cert)
    phone, address = phone or None, address or None
    ring = ctx.keyring
    content = {  # every field a push says, keys in sorted order (see _content_index)
        "address": address, "birth_date": birth, "certificate_checked": cert_checked,
        "certificate_issued_by": issued_by, "certificate_issued_on": issued_on,
        "certificate_number": cert_number, "certificate_valid_until": valid_until,
        "children_count": children, "contraception": contraception, "ethnicity": ethnicity,
        "hukou_missing": hukou_missing, "hukou_region": hukou, "id_number": id_number,
        "kind": kind, "last_birth_date": last_birth, "marital_status": marital,
        "moved_on": moved_on, "name": name, "other_region": other, "phone": phone,
        "pregnancy_status": pregnancy, "registering_region": own, "residence_region": residence,
        "sex": sex,
    }  # fmt: skip
    id_enc, name_enc, phone_enc, address_enc = ring.encrypt_fields(
        ((id_number, _ID_CONTEXT), (name, _NAME_CONTEXT), (phone, _PHONE_CONTEXT),
         (address, _ADDRESS_CONTEXT))
    )  # fmt: skip
    id_index, id_indexes = ring.blind_indexes(id_number)
    content_index, content_indexes = _content_indexes(ring, content)
    reasons = _key_reasons(pregnancy, last_birth, cert_number, valid_until, contraception, today)
    columns = content | {
        "content_index": content_index, "data_key_id": ring.current_data_key,
        "id_number_enc": id_enc, "name_enc": name_enc, "phone_enc": phone_enc,
        "address_enc": address_enc, "id_index": id_index, "name_index": name_index(ring, name),
        "id_check_flagged": flagged, "id_converted": converted, "key_object": bool(reasons),
        "key_reasons": ",".join(reasons) or None,
    }  # fmt: skip
    del columns["id_number"], columns["name"], columns["phone"], columns["address"]  # in clear
    return Prepared(columns, id_indexes, content_indexes)


def _regions(
    regions: RegionBook, own: str, kind: str, hukou: str | None, residence: str | None
) -> tuple[str | None, str | None, str | None]:
    """``(hukou, residence, other)``: the codes of a record, checked, in 6-digit form."""
    if kind == "outflow":
        hukou = _code(hukou or own, "hukou_region")
        _require_registering(hukou, own, "hukou_region", "outflows of residents of")
        residence = _optional_region(regions, residence, "residence_region")
        other = residence if residence and level_of(residence) == "county" else None
        return hukou, residence, other if other != own else None
    residence = _code(residence or own, "residence_region")
    _require_registering(residence, own, "residence_region", "inflows of arrivals in")
    if not hukou:
        return None, residence, None
    hukou = _code(hukou, "hukou_region")
    if not regions.is_current_county(hukou):
        raise InvalidInput(
            f"hukou_region {hukou} is not a current county of the catalogue",
            field="hukou_region",
        )
    return hukou, residence, hukou if hukou != own else None


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


def _optional_region(regions: RegionBook, code: str | None, field_name: str) -> str | None:
    if not code:
        return None
    code = _code(code, field_name)
    info = regions.info(code)
    if info is None or code == "000000":
        raise InvalidInput(
            f"{field_name} {code} is not in the GB/T 2260 catalogue", field=field_name
        )
    if not info[1]:
        raise InvalidInput(f"{field_name} {code} is an abolished region", field=field_name)
    return code


def _certificate(
    regions: RegionBook, cert: Certificate | None
) -> tuple[str | None, str | None, date | None, date | None]:
    """``(number, issued_by, issued_on, valid_until)`` of a certificate, checked."""
    if cert is None:
        return None, None, None, None
    number, issued_by, issued_on, valid_until = _CERTIFICATE_FIELDS(cert.__dict__)
    if issued_by:
        issued_by = _code(issued_by, "certificate.issued_by")
        if issued_by not in regions:
            raise InvalidInput(
                f"certificate.issued_by {issued_by} is not in the GB/T 2260 catalogue",
                field="certificate.issued_by",
            )
    else:
        issued_by = None
    if issued_on and valid_until and valid_until < issued_on:
        raise InvalidInput(
            "certificate.valid_until is before certificate.issued_on",
            field="certificate.valid_until",
        )
    return number or None, issued_by, issued_on, valid_until


def _content_index(keyring: KeyRing, content: dict[str, Any]) -> str:
    """A keyed hash of everything a push says: an identical re-push changes nothing.

    The hashed text is ``content:`` and the fields as JSON with sorted keys;
    ``content`` comes with its keys in that order already (stored rows hold
    the index, so the text must not change)."""
    return keyring.blind_index_of_bytes(_content_text(content))


def _content_indexes(keyring: KeyRing, content: dict[str, Any]) -> tuple[str, list[str]]:
    """``_content_index`` under the current key, and its form under every key of the ring."""
    current, forms = keyring.blind_indexes_of_bytes(_content_text(content))
    return current, [current, *(f for f in forms if f != current)]


def _content_text(content: dict[str, Any]) -> bytes:
    return b"content:" + orjson.dumps(content)


CONTENT_COLUMNS = (
    "birth_date", "certificate_checked", "certificate_issued_by", "certificate_issued_on",
    "certificate_number", "certificate_valid_until", "children_count", "contraception",
    "ethnicity", "hukou_missing", "hukou_region", "kind", "last_birth_date", "marital_status",
    "moved_on", "other_region", "pregnancy_status", "registering_region", "residence_region",
    "sex",
)  # fmt: skip
"""The fields of ``prepare``'s content that a row holds in clear (the rest are ``ENCRYPTED``)."""


def content_index_of_row(keyring: KeyRing, row: Any, clear: dict[str, str | None]) -> str:
    """The content index of a stored row, as ``prepare`` made it (``reencrypt.move_rows``
    rebuilds it under the current key, so an identical re-push stays unchanged)."""
    content = {name: getattr(row, name) for name in CONTENT_COLUMNS} | clear
    return _content_index(keyring, dict(sorted(content.items())))


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

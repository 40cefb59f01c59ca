"""Person records: register, read, change, deregister, look up (SPEC §3, §6, §9).

Who may do what:

- write: a county system, and only on its registering side — the
  ``hukou_region`` of an outflow (流出登记), the ``residence_region`` of an
  inflow (流入登记); anyone else who may read the record gets 403;
- read: the registering county and the other county named in the record;
  admins only with a person-data grant, over records naming a region in
  their scope, and every such read is audited; everyone else gets 404;
- look up: counties (across the nation, answering no person data) and
  admins with the grant (within their region), with a stated purpose, audited.

Every read — get, versions, change, deregister, look-up — finds records
through one scope rule (``scope.person_scope`` and
``repository.visible_within``), so a record outside the caller's scope is
answered exactly like a missing one.

For the exchange work: ``hukou_region_for``, ``has_active_outflow`` and their
forms for many ID numbers; with them this module is the exchange's
``exchange.directory.PersonDirectory``, which the hub's entry points pass to
``context.build_context``.

A county's batch and its single writes do not interleave (PostgreSQL; SQLite
has one writer anyway). A batch finds the county's existing records of a chunk
of people with one query and then COPYs the new ones: a single push of one of
those people committed in between would break the batch's COPY on the unique
index, and a single push of a person the batch has just written would wait,
unseen, until the batch ends and then fail. So a batch holds its county's
write lock alone for its whole transaction, and single writes share it: they
wait up to ``SINGLE_WRITE_WAIT`` for the county's running batch, then get a
409 that says so, with ``Retry-After``. Two batches of one county run one
after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from exchange_hub import changes, clock, id_numbers
from exchange_hub.audit import service as audit
from exchange_hub.config import Settings
from exchange_hub.crypto import KeyRing
from exchange_hub.db import is_lock_timeout, lock_wait
from exchange_hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from exchange_hub.exchange import hooks
from exchange_hub.masking import mask_id_number
from exchange_hub.models import Record, RecordVersion
from exchange_hub.models.base import new_id
from exchange_hub.records import repository, values
from exchange_hub.records.schemas import (
    LookupMatch,
    LookupRequest,
    RecordIn,
    RecordRead,
    RecordVersionRead,
    RecordWritten,
)
from exchange_hub.scope import Caller, person_scope, require_role

Outcome = Literal["created", "updated", "unchanged"]


# -- context -------------------------------------------------------------------
def keyring_of(session: Session) -> KeyRing:
    return session.info["keyring"]  # type: ignore[no-any-return]


def settings_of(session: Session) -> Settings:
    return session.info.get("settings") or Settings()


def today_for(settings: Settings) -> date:
    """Today in the hub's time zone (Asia/Shanghai): birth dates and key objects use it."""
    return clock.today(ZoneInfo(settings.timezone))


def write_context(
    session: Session, caller: Caller, *, preload: bool = False
) -> values.WriteContext:
    settings = settings_of(session)
    return values.WriteContext(
        caller=caller,
        keyring=keyring_of(session),
        policy=settings.id_policy,
        today=today_for(settings),
        regions=values.RegionBook(session, preload=preload),
    )


def require_county_writer(caller: Caller) -> None:
    require_role(caller, "county")


SINGLE_WRITE_WAIT = "20s"  # how long a single write waits for its county's running batch
BATCH_RETRY_AFTER = "60"


def wait_for_county_batch(session: Session, caller: Caller) -> None:
    """Share the county's write lock with its other single writes; wait for a
    running batch of the county, up to ``SINGLE_WRITE_WAIT`` (module docstring)."""
    try:
        with lock_wait(session, SINGLE_WRITE_WAIT):
            repository.lock_county_writes(session, caller.region, alone=False)
    except OperationalError as exc:
        if not is_lock_timeout(exc):
            raise  # a lost connection and the like: the app answers 503
        error = Conflict(
            f"a batch of county {caller.region} is being written; single records of the "
            f"county wait for it up to {SINGLE_WRITE_WAIT}. Nothing was stored: send this "
            "again in a minute"
        )
        error.headers = {"Retry-After": BATCH_RETRY_AFTER}
        raise error from exc


# -- writes --------------------------------------------------------------------
def create_record(session: Session, caller: Caller, *, body: RecordIn) -> tuple[Record, Outcome]:
    """Register a person; a re-push of an active record updates it instead (SPEC §3)."""
    require_county_writer(caller)
    ctx = write_context(session, caller)
    prepared = values.prepare(ctx, body)
    wait_for_county_batch(session, caller)
    existing = repository.find_active(
        session,
        registering_region=prepared.columns["registering_region"],
        kind=prepared.columns["kind"],
        id_indexes=prepared.id_indexes,
    )
    if existing is not None:
        return existing, _apply_update(session, caller, existing, prepared)
    record = _insert(session, caller, prepared.columns)
    return record, "created"


def _insert(session: Session, caller: Caller, prepared: dict[str, Any]) -> Record:
    now = clock.now()
    record = Record(
        id=new_id(), status="active", member_id=caller.member_id, version=1,
        version_action="created", created_at=now, updated_at=now, updated_by=caller.label,
        **prepared,
    )  # fmt: skip
    session.add(record)
    session.flush()
    _record_change(session, record, "created")
    _audit_write(session, caller, record, "record.create")
    if record.kind == "inflow":
        hooks.inflow_registered(session, caller, record)
    return record


def _apply_update(
    session: Session, caller: Caller, record: Record, prepared: values.Prepared
) -> Outcome:
    if record.content_index in prepared.content_indexes:
        return "unchanged"
    archive(session, keyring_of(session), record)
    for name, value in prepared.columns.items():
        setattr(record, name, value)
    _next_version(record, caller, "updated")
    session.flush()
    _record_change(session, record, "updated")
    _audit_write(session, caller, record, "record.update")
    return "updated"


def update_record(
    session: Session, caller: Caller, *, record_id: uuid.UUID, patch: dict[str, Any]
) -> tuple[Record, Outcome]:
    """Merge a patch (RFC 7396) into the record, check it whole again, keep the old version."""
    record = _writable(session, caller, record_id)
    if record.status != "active":
        raise Conflict(f"record {record_id} is deregistered; push a new record", field="id")
    current = values.input_form(values.read_form(keyring_of(session), record))
    if "id_number" in (patch.get("person") or {}):
        # Birth date and sex follow a corrected ID number unless the patch sends them.
        for derived in ("birth_date", "sex"):
            current["person"].pop(derived, None)
    merged = _merge(current, patch)
    body = _validated(merged)
    prepared = values.prepare(write_context(session, caller), body)
    return record, _apply_update(session, caller, record, prepared)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(target)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _validated(merged: dict[str, Any]) -> RecordIn:
    from pydantic import ValidationError

    try:
        return RecordIn.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from None


def deregister_record(
    session: Session, caller: Caller, *, record_id: uuid.UUID, reason: str, on: date | None
) -> Record:
    """注销: end a record (returned home, moved on, died, duplicate); the old version is kept."""
    record = _writable(session, caller, record_id)
    if record.status != "active":
        raise Conflict(f"record {record_id} is already deregistered", field="id")
    archive(session, keyring_of(session), record)
    record.status, record.deregister_reason = "deregistered", reason
    record.deregistered_on = on or today_for(settings_of(session))
    _next_version(record, caller, "deregistered")
    session.flush()
    _record_change(session, record, "deregistered")
    _audit_write(session, caller, record, "record.deregister", reason=reason)
    return record


def archive(session: Session, keyring: KeyRing, record: Record) -> None:
    """Copy the record's current version, encrypted whole, into ``record_versions``."""
    session.add(
        RecordVersion(
            record_id=record.id, version=record.version, action=record.version_action,
            at=record.updated_at, actor=record.updated_by, data_key_id=keyring.current_data_key,
            snapshot=values.snapshot(keyring, values.read_form(keyring, record)),
        )
    )  # fmt: skip


def _next_version(record: Record, caller: Caller, action: str) -> None:
    record.version += 1
    record.version_action = action
    record.updated_at = clock.now()
    record.updated_by = caller.label


def _record_change(session: Session, record: Record, action: str) -> None:
    changes.record_change(
        session, "record", record.id, action, [record.registering_region, record.other_region],
        {"kind": record.kind, "version": record.version},
    )  # fmt: skip


def _audit_write(
    session: Session, caller: Caller, record: Record, action: str, **detail: Any
) -> None:
    masked = mask_id_number(values.decrypted(keyring_of(session), record)["id_number"] or "")
    entry = audit.entry_for(
        caller, action, object_type="record", object_id=str(record.id),
        request_id=session.info.get("request_id"),
        detail={"id_number": masked, "kind": record.kind, "version": record.version, **detail},
    )  # fmt: skip
    audit.record(session, entry)


# -- reads ---------------------------------------------------------------------
def has_records(session: Session) -> bool:
    """Whether the hub holds any record at all (demo seeding skips then)."""
    return repository.has_records(session)


def get_record(session: Session, caller: Caller, *, record_id: uuid.UUID) -> Record:
    """A record the caller may read (404 otherwise); admins' reads are audited."""
    record = repository.get(session, record_id, within=person_scope(caller))
    if record is None:
        raise NotFound(f"no record {record_id}", field="id")
    if caller.role == "admin":
        _audit_write(session, caller, record, "record.read")
    return record


def _writable(session: Session, caller: Caller, record_id: uuid.UUID) -> Record:
    require_county_writer(caller)
    wait_for_county_batch(session, caller)
    record = repository.get(session, record_id, within=person_scope(caller))
    if record is None:
        raise NotFound(f"no record {record_id}", field="id")
    if record.registering_region != caller.region:
        raise Forbidden(
            f"record {record_id} is registered by {record.registering_region}; "
            "only the registering county may change it",
            field="id",
        )
    return record


def list_versions(
    session: Session, caller: Caller, *, record_id: uuid.UUID
) -> list[RecordVersionRead]:
    """Every version of a record, oldest first; the last is the current one."""
    record = get_record(session, caller, record_id=record_id)
    keyring = keyring_of(session)
    items = [
        RecordVersionRead(
            version=v.version, action=v.action, at=v.at, actor=v.actor,
            record=RecordRead.model_validate(values.from_snapshot(keyring, v.snapshot)),
        )
        for v in repository.versions_of(session, record.id)
    ]  # fmt: skip
    items.append(
        RecordVersionRead(
            version=record.version, action=record.version_action, at=record.updated_at,
            actor=record.updated_by, record=read_form(session, record),
        )
    )  # fmt: skip
    return items


def read_form(session: Session, record: Record) -> RecordRead:
    """A record as the API shows it (person data decrypted: callers check the grant)."""
    return RecordRead.model_validate(values.read_form(keyring_of(session), record))


def written(session: Session, record: Record, outcome: Outcome) -> RecordWritten:
    """A record just written, with what the write did to it."""
    return RecordWritten.model_validate(
        {**values.read_form(keyring_of(session), record), "outcome": outcome}
    )


# -- lookup --------------------------------------------------------------------
def lookup(session: Session, caller: Caller, *, request: LookupRequest) -> list[LookupMatch]:
    """Find a person: exact by ID number (certain); by name + birth date + sex,
    candidates graded probable or possible, never merged (SPEC §3)."""
    within = person_scope(caller, looking_up=True)
    ctx = write_context(session, caller)
    exact: list[Record] = []
    if request.id_number:
        number = id_numbers.parse_id_number(
            request.id_number, policy=ctx.policy, regions=ctx.regions, today=ctx.today,
            field="id_number",
        ).number  # fmt: skip
        indexes = ctx.keyring.all_blind_indexes(number)
        exact = list(repository.by_id_indexes(session, indexes, within=within))
    elif not (request.name and request.birth_date and request.sex):
        missing = next(f for f in ("name", "birth_date", "sex") if not getattr(request, f))
        raise InvalidInput(
            f"send id_number, or name, birth_date and sex together ({missing} is missing)",
            field=missing,
        )
    matches = [(record, "certain") for record in exact]
    if request.name and request.birth_date and request.sex:
        seen = {r.id for r in exact}
        matches += _name_candidates(
            session, ctx.keyring, request, seen, within=within,
            id_sent=bool(exact or request.id_number),
        )  # fmt: skip
    _audit_lookup(session, caller, request, len(matches))
    return [_match(record, grade, ctx.today) for record, grade in matches]


def _name_candidates(
    session: Session,
    keyring: KeyRing,
    request: LookupRequest,
    seen: set[uuid.UUID],
    *,
    within: str,
    id_sent: bool,
) -> list[tuple[Record, str]]:
    assert request.name and request.birth_date and request.sex
    found = []
    indexes = values.name_indexes(keyring, request.name)
    for record in repository.by_name_indexes(session, indexes, within=within):
        if record.id in seen or record.sex != request.sex:
            continue
        grade = grade_candidate(record.birth_date, request.birth_date, id_sent=id_sent)
        if grade:
            found.append((record, grade))
    order = {"probable": 0, "possible": 1}
    return sorted(found, key=lambda pair: order[pair[1]])


def grade_candidate(stored: date, sent: date, *, id_sent: bool) -> str | None:
    """Same name and sex: the same birth date is probable (possible when the ID
    sent differs); a birth date one typing slip away — one of year, month, day
    differs, or month and day swapped — is possible."""
    if stored == sent:
        return "possible" if id_sent else "probable"
    same = sum((stored.year == sent.year, stored.month == sent.month, stored.day == sent.day))
    swapped = stored.year == sent.year and (stored.month, stored.day) == (sent.day, sent.month)
    return "possible" if same == 2 or swapped else None


def certificate_status(record: Record, today: date) -> str:
    if not record.certificate_number:
        return "none"
    if record.certificate_valid_until is not None and record.certificate_valid_until < today:
        return "expired"
    return "valid"


def _match(record: Record, grade: str, today: date) -> LookupMatch:
    return LookupMatch.model_validate(
        {
            "grade": grade,
            "kind": record.kind,
            "registration_region": record.registering_region,
            "active": record.status == "active",
            "certificate_status": certificate_status(record, today),
        }
    )


def _audit_lookup(session: Session, caller: Caller, request: LookupRequest, found: int) -> None:
    detail: dict[str, Any] = {"purpose": request.purpose, "matches": found}
    if request.id_number:
        detail["id_number"] = mask_id_number(request.id_number)
    else:
        detail["by"] = "name, birth_date, sex"
    entry = audit.entry_for(
        caller, "person.lookup", object_type="person",
        request_id=session.info.get("request_id"), detail=detail,
    )  # fmt: skip
    audit.record(session, entry)


# -- for the exchange work -----------------------------------------------------
def _indexes_for(keyring: KeyRing, id_number: str) -> list[str]:
    number = id_number.strip().upper()
    if len(number) == 15 and number.isdigit():
        number = id_numbers.convert_legacy(number)
    return keyring.all_blind_indexes(number)


def hukou_region_for(session: Session, keyring: KeyRing, id_number: str) -> str | None:
    """The ``hukou_region`` of the newest active record (by last change) with this
    ID number that names one, or None. The number is not validated here (the
    caller did); legacy 15-digit numbers are converted first. Used to route a
    message to the subject's household-registration county (SPEC §2)."""
    return repository.newest_active_hukou(session, _indexes_for(keyring, id_number))


def has_active_outflow(
    session: Session, keyring: KeyRing, id_number: str, origin_county: str
) -> bool:
    """Whether ``origin_county`` holds an active outflow record (流出登记) of this
    ID number: an inflow without one opens a verification query (SPEC §3)."""
    return repository.active_outflow_exists(
        session, _indexes_for(keyring, id_number), origin_county
    )


def hukou_regions_for(
    session: Session, keyring: KeyRing, id_numbers: Sequence[str]
) -> dict[str, str]:
    """``hukou_region_for`` of many ID numbers in one query (the batch inflow hook)."""
    person_of = _people_by_index(keyring, id_numbers)
    newest: dict[str, tuple[datetime, str]] = {}
    for index, hukou, updated_at in repository.newest_active_hukous(session, list(person_of)):
        number = person_of[index]
        if number not in newest or updated_at > newest[number][0]:
            newest[number] = (updated_at, hukou)
    return {number: hukou for number, (_, hukou) in newest.items()}


def active_outflow_regions(
    session: Session, keyring: KeyRing, id_numbers: Sequence[str]
) -> dict[str, set[str]]:
    """The counties holding an active outflow record of each ID number (``has_active_outflow``
    for many numbers in one query)."""
    person_of = _people_by_index(keyring, id_numbers)
    regions: dict[str, set[str]] = {}
    for index, region in repository.active_outflow_regions(session, list(person_of)):
        regions.setdefault(person_of[index], set()).add(region)
    return regions


def _people_by_index(keyring: KeyRing, id_numbers: Sequence[str]) -> dict[str, str]:
    return {index: number for number in id_numbers for index in _indexes_for(keyring, number)}

"""Records API (SPEC §9): single records, batches, versions, person look-up."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor, register_url_convertor

from exchange_hub import idempotency
from exchange_hub.deps import (
    CurrentCaller,
    DbSession,
    StreamingCaller,
    verify_deferred_signature,
)
from exchange_hub.errors import InvalidInput
from exchange_hub.params import IdempotencyKey
from exchange_hub.records import batch, service
from exchange_hub.records.schemas import (
    BatchResult,
    Deregistration,
    LookupRequest,
    LookupResult,
    RecordIn,
    RecordPatch,
    RecordRead,
    RecordVersionList,
    RecordWritten,
)
from exchange_hub.records.tabular import XLSX_MEDIA_TYPE


class RecordIdSegment(StringConvertor):
    """A path segment naming a record: anything but ``batch``, the upload's own path.
    So ``PATCH /records/batch`` is a method the path lacks (405, Allow: POST) and
    not a malformed record id, while ``/records/not-a-uuid`` stays a 422 naming it."""

    regex = "(?!batch$)[^/]+"


register_url_convertor("record_id", RecordIdSegment())
router = APIRouter(prefix="/api/v1", tags=["records"])
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "description": "One record per line (NDJSON), a CSV with a header row "
        "(UTF-8 with or without BOM; GBK CSV accepted), or an XLSX workbook whose first "
        "sheet has such a header row (column names or their Chinese labels). CSV line "
        "numbers count the header as line 1; XLSX lines are the sheet's row numbers.",
        "content": {
            "application/x-ndjson": {"schema": {"type": "string", "minLength": 1}},
            "text/csv": {"schema": {"type": "string", "minLength": 1}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post("/records", status_code=201, response_model=RecordWritten)
def create_record(
    body: RecordIn,
    session: DbSession,
    caller: CurrentCaller,
    response: Response,
    key: IdempotencyKey = None,
) -> RecordWritten:
    """Register one outflow or inflow; an active record of the same person, kind
    and county is updated instead (``outcome`` says which)."""

    def work() -> RecordWritten:
        record, outcome = service.create_record(session, caller, body=body)
        return service.written(session, record, outcome)

    digest = idempotency.request_hash("POST", "/api/v1/records", body.model_dump(mode="json"))
    return idempotency.answer(
        session, caller.member_id, key, digest, work,
        model=RecordWritten, response=response, status_code=201,
    )  # fmt: skip


@router.post("/records/batch", response_model=BatchResult, openapi_extra=_BATCH_BODY)
async def push_batch(
    request: Request,
    response: Response,
    session: DbSession,
    caller: StreamingCaller,
    key: IdempotencyKey = None,
) -> BatchResult:
    """Many records at once; good lines land, bad lines are listed with their line number."""
    fmt = batch.body_format(request.headers.get("content-type"))
    body = await batch.spool(request.stream())
    try:
        await verify_deferred_signature(request, caller, body.digest)
        if body.size == 0:
            raise InvalidInput("the batch is empty", field="body")
        digest = idempotency.request_hash(
            "POST", request.url.path, f"{fmt.kind}\n{body.digest}".encode()
        )
        work = partial(batch.ingest, session, caller, body.file, fmt=fmt)
        answer = partial(idempotency.answer, model=BatchResult, response=response)
        return await run_in_threadpool(answer, session, caller.member_id, key, digest, work)
    finally:
        body.file.close()


@router.get("/records/{record_id:record_id}", response_model=RecordRead)
def read_record(record_id: uuid.UUID, session: DbSession, caller: CurrentCaller) -> RecordRead:
    return service.read_form(session, service.get_record(session, caller, record_id=record_id))


@router.patch("/records/{record_id:record_id}", response_model=RecordWritten)
def patch_record(
    record_id: uuid.UUID,
    patch: RecordPatch,
    session: DbSession,
    caller: CurrentCaller,
    response: Response,
    key: IdempotencyKey = None,
) -> RecordWritten:
    """Change a record (JSON merge patch); the previous version is kept."""

    def work() -> RecordWritten:
        changes = patch.model_dump(exclude_unset=True)  # typed values: merged and re-checked
        record, outcome = service.update_record(session, caller, record_id=record_id, patch=changes)
        return service.written(session, record, outcome)

    digest = idempotency.request_hash(
        "PATCH", f"/api/v1/records/{record_id}", patch.model_dump(mode="json", exclude_unset=True)
    )
    return idempotency.answer(
        session, caller.member_id, key, digest, work, model=RecordWritten, response=response
    )


@router.post("/records/{record_id:record_id}/deregister", response_model=RecordRead)
def deregister_record(
    record_id: uuid.UUID,
    body: Deregistration,
    session: DbSession,
    caller: CurrentCaller,
    response: Response,
    key: IdempotencyKey = None,
) -> RecordRead:
    """注销: returned_home, moved_on, died or duplicate."""

    def work() -> RecordRead:
        record = service.deregister_record(
            session, caller, record_id=record_id, reason=body.reason, on=body.on
        )
        return service.read_form(session, record)

    digest = idempotency.request_hash(
        "POST", f"/api/v1/records/{record_id}/deregister", body.model_dump(mode="json")
    )
    return idempotency.answer(
        session, caller.member_id, key, digest, work, model=RecordRead, response=response
    )


@router.get("/records/{record_id:record_id}/versions", response_model=RecordVersionList)
def record_versions(
    record_id: uuid.UUID, session: DbSession, caller: CurrentCaller
) -> RecordVersionList:
    """Every version, oldest first; the last one is the record as it is now."""
    return RecordVersionList(items=service.list_versions(session, caller, record_id=record_id))


@router.post("/persons/lookup", response_model=LookupResult)
def lookup_person(body: LookupRequest, session: DbSession, caller: CurrentCaller) -> LookupResult:
    """Certificate status, registering county and whether active — nothing more; audited."""
    return LookupResult(matches=service.lookup(session, caller, request=body))

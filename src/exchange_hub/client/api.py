"""``HubClient``: every member-facing route of the hub, typed with the hub's own schemas.

What a call takes and returns are the models the hub validates and answers with
(``records/schemas.py``, ``exchange/schemas.py`` …; ``schemas/`` is generated from
the same classes), so the client cannot drift from the contract. A request body
may be given as its model or as a plain dict, which is checked with the hub's own
model before it is sent (``InvalidRequestError``, nothing sent).

    from exchange_hub.client import HubClient, Ed25519Signer
    with HubClient("https://hub.example", api_key, signer=Ed25519Signer.from_file(path)) as hub:
        result = hub.push_batch(Path("outbox/2026-12-07.xlsx"))
        for item in hub.inbox():
            hub.acknowledge(item.id)
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from exchange_hub.client.errors import InvalidRequestError
from exchange_hub.client.signing import RequestSigner, Signer
from exchange_hub.client.transport import Call, RetryPolicy, Transport, Upload, read_model

# The hub's own contracts, one module per domain (short names: methods are named after
# the domains).
from exchange_hub.exchange import schemas as msg
from exchange_hub.holidays import schemas as cal
from exchange_hub.members import schemas as mem
from exchange_hub.metrics import schemas as fig
from exchange_hub.records import schemas as rec
from exchange_hub.regions import schemas as reg
from exchange_hub.reports import schemas as rep

if TYPE_CHECKING:  # loaded when first used: its module reads the scorecard's database layer
    from exchange_hub.scorecard import schemas as score

M = TypeVar("M", bound=BaseModel)
NDJSON, CSV = "application/x-ndjson", "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_OF_SUFFIX = {".ndjson": NDJSON, ".jsonl": NDJSON, ".csv": CSV, ".xlsx": XLSX}


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def body_of(model: type[M], value: M | dict[str, Any]) -> bytes:
    """The JSON a body is sent as, checked with the hub's own model first."""
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_unset=True).encode()
    raw = orjson.dumps(value, default=_json_default)
    try:
        model.model_validate_json(raw)  # exactly as the hub will read it
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidRequestError(where, first["msg"]) from None
    return raw


def batch_key(media_type: str, digest: str) -> str:
    """The ``Idempotency-Key`` of a batch: derived from its content, so sending the same
    file again (a rerun after a crash) is answered from the first run, never landed twice."""
    return "batch-" + hashlib.sha256(f"{media_type}\n{digest}".encode()).hexdigest()[:48]


def media_type_of(path: Path) -> str:
    try:
        return MEDIA_OF_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise InvalidRequestError(
            "file", f"{path.name}: send .ndjson, .jsonl, .csv or .xlsx files"
        ) from None


class HubClient:
    """A county's (or department's) connection to the hub: one API key, one signer."""

    def __init__(
        self, base_url: str, api_key: str, *, signer: Signer | None = None,
        retry: RetryPolicy | None = None, timeout: float = 120.0,
        transport: Transport | None = None, now: Callable[[], float] | None = None,
    ) -> None:  # fmt: skip
        request_signer = None
        if signer is not None:
            request_signer = RequestSigner(signer) if now is None else RequestSigner(signer, now)
        self.transport = transport or Transport(
            base_url, api_key, signer=request_signer, retry=retry, timeout=timeout
        )

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    # -- plumbing ----------------------------------------------------------------------
    def _get(self, path: str, model: type[M], **params: Any) -> M:
        response = self.transport.send(Call("GET", path, params=params))
        return read_model(response, model)  # type: ignore[no-any-return]

    def _figures(
        self, path: str, model: type[M], region: str, period: str, options: dict[str, Any]
    ) -> M:
        """The figures, reports and assessment reads: a region, a period and options."""
        return self._get(path, model, region=region, period=period, **options)

    def _write(
        self, method: str, path: str, model: type[M], *, body: bytes | None = None,
        key: str | None = None,
    ) -> M:  # fmt: skip
        content_type = "application/json" if body is not None else None
        call = Call(method, path, body=body, content_type=content_type, idempotency_key=key)
        return read_model(self.transport.send(call), model)  # type: ignore[no-any-return]

    # -- records -----------------------------------------------------------------------
    def create_record(
        self, record: rec.RecordIn | dict[str, Any], *, idempotency_key: str | None = None
    ) -> rec.RecordWritten:
        body = body_of(rec.RecordIn, record)
        return self._write("POST", "/api/v1/records", rec.RecordWritten, body=body,
                           key=idempotency_key)  # fmt: skip

    def get_record(self, record_id: uuid.UUID | str) -> rec.RecordRead:
        return self._get(f"/api/v1/records/{record_id}", rec.RecordRead)

    def update_record(
        self, record_id: uuid.UUID | str, patch: rec.RecordPatch | dict[str, Any], *,
        idempotency_key: str | None = None,
    ) -> rec.RecordWritten:  # fmt: skip
        body = body_of(rec.RecordPatch, patch)
        return self._write("PATCH", f"/api/v1/records/{record_id}", rec.RecordWritten, body=body,
                           key=idempotency_key)  # fmt: skip

    def deregister_record(
        self, record_id: uuid.UUID | str, deregistration: rec.Deregistration | dict[str, Any], *,
        idempotency_key: str | None = None,
    ) -> rec.RecordRead:  # fmt: skip
        body = body_of(rec.Deregistration, deregistration)
        return self._write("POST", f"/api/v1/records/{record_id}/deregister", rec.RecordRead,
                           body=body, key=idempotency_key)  # fmt: skip

    def record_versions(self, record_id: uuid.UUID | str) -> rec.RecordVersionList:
        return self._get(f"/api/v1/records/{record_id}/versions", rec.RecordVersionList)

    def lookup_person(self, request: rec.LookupRequest | dict[str, Any]) -> rec.LookupResult:
        """Not a change, but a POST: sent with a fresh key, so a retry is answered once."""
        body = body_of(rec.LookupRequest, request)
        return self._write("POST", "/api/v1/persons/lookup", rec.LookupResult, body=body)

    def push_batch(
        self, source: Path | Iterable[rec.RecordIn | dict[str, Any]], *,
        media_type: str | None = None, idempotency_key: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> rec.BatchResult:  # fmt: skip
        """A batch from a file (NDJSON, CSV in UTF-8 or GBK, XLSX; streamed from disk,
        never read into memory) or from an iterator of records (spooled as NDJSON)."""
        if not isinstance(source, Path):
            with _spooled_ndjson(source) as path:
                return self.push_batch(path, media_type=NDJSON, idempotency_key=idempotency_key)
        media_type = media_type or media_type_of(source)
        upload = Upload.of(source)
        key = idempotency_key or batch_key(media_type, upload.digest)
        call = Call("POST", "/api/v1/records/batch", upload=upload, content_type=media_type,
                    idempotency_key=key, progress=progress)  # fmt: skip
        return read_model(self.transport.send(call), rec.BatchResult)  # type: ignore[no-any-return]

    # -- messages ----------------------------------------------------------------------
    def send_message(
        self,
        message: msg.MessageCreate | dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> msg.MessageAccepted:
        body = body_of(msg.MessageCreate, message)
        return self._write("POST", "/api/v1/messages", msg.MessageAccepted, body=body,
                           key=idempotency_key)  # fmt: skip

    def get_message(self, message_id: uuid.UUID | str) -> msg.MessageRead:
        return self._get(f"/api/v1/messages/{message_id}", msg.MessageRead)

    def acknowledge(self, message_id: uuid.UUID | str) -> msg.MessageSummary:
        """签收: the receipt of a message (idempotent: the key is the message's)."""
        return self._write("POST", f"/api/v1/messages/{message_id}/receipt", msg.MessageSummary,
                           key=f"receipt-{message_id}")  # fmt: skip

    def answer(
        self, message_id: uuid.UUID | str, feedback: msg.FeedbackCreate | dict[str, Any]
    ) -> msg.MessageSummary:
        """反馈: the answer to a query; a message is answered once, so its key is the message's."""
        body = body_of(msg.FeedbackCreate, feedback)
        return self._write("POST", f"/api/v1/messages/{message_id}/feedback", msg.MessageSummary,
                           body=body, key=f"feedback-{message_id}")  # fmt: skip

    def withdraw(self, message_id: uuid.UUID | str) -> msg.MessageSummary:
        return self._write("POST", f"/api/v1/messages/{message_id}/withdraw", msg.MessageSummary,
                           key=f"withdraw-{message_id}")  # fmt: skip

    def inbox_page(self, *, cursor: str | None = None, state: str | None = None,
                   kind: str | None = None, order: str | None = None,
                   limit: int | None = None) -> msg.InboxPage:  # fmt: skip
        return self._get("/api/v1/inbox", msg.InboxPage, cursor=cursor, state=state, kind=kind,
                         order=order, limit=limit)  # fmt: skip

    def inbox(self, **filters: Any) -> Iterator[msg.InboxItem]:
        """Every item of the inbox, page after page (reading delivers them)."""
        for page in _pages(lambda cursor: self.inbox_page(cursor=cursor, **filters)):
            yield from page.items

    def outbox_page(
        self, *, cursor: str | None = None, state: str | None = None, kind: str | None = None,
        limit: int | None = None,
    ) -> msg.OutboxPage:  # fmt: skip
        return self._get("/api/v1/outbox", msg.OutboxPage, cursor=cursor, state=state, kind=kind,
                         limit=limit)  # fmt: skip

    def outbox(self, **filters: Any) -> Iterator[msg.MessageSummary]:
        for page in _pages(lambda cursor: self.outbox_page(cursor=cursor, **filters)):
            yield from page.items

    def changes_page(self, since: str | None = None, *, limit: int | None = None) -> msg.ChangePage:
        return self._get("/api/v1/changes", msg.ChangePage, since=since, limit=limit)

    def changes(self, since: str | None = None, *, limit: int | None = None
                ) -> Iterator[tuple[list[msg.ChangeRead], str]]:  # fmt: skip
        """Pages of the change feed with the cursor after each, until caught up."""
        while True:
            page = self.changes_page(since, limit=limit)
            yield page.items, page.next_cursor
            if not page.items:
                return
            since = page.next_cursor

    def hub_key(self) -> dict[str, Any]:
        response = self.transport.send(Call("GET", "/api/v1/hub-key"))
        return dict(response.json())

    # -- the member --------------------------------------------------------------------
    def me(self) -> mem.Me:
        return self._get("/api/v1/members/me", mem.Me)

    def set_push_endpoint(self, endpoint: mem.PushEndpoint | dict[str, Any]) -> mem.MemberRead:
        body = body_of(mem.PushEndpoint, endpoint)
        return self._write("PUT", "/api/v1/members/me/push-endpoint", mem.MemberRead, body=body)

    def push_deliveries(self, *, state: str | None = None, after_id: int | None = None,
                        limit: int | None = None) -> msg.PushDeliveryList:  # fmt: skip
        return self._get("/api/v1/push-deliveries", msg.PushDeliveryList, state=state,
                         after_id=after_id, limit=limit)  # fmt: skip

    def redrive_pushes(self) -> msg.PushRedrive:
        return self._write("POST", "/api/v1/push-deliveries/redrive", msg.PushRedrive)

    # -- look-ups, figures, reports ----------------------------------------------------
    def region(self, code: str) -> reg.RegionRead:
        return self._get(f"/api/v1/regions/{code}", reg.RegionRead)

    def regions(self, parent: str | None = None) -> reg.RegionList:
        return self._get("/api/v1/regions", reg.RegionList, parent=parent)

    def calendar_year(self, year: int) -> cal.CalendarYearRead:
        return self._get(f"/api/v1/calendar/{year}", cal.CalendarYearRead)

    def exchange_figures(self, region: str, period: str, **options: Any) -> fig.ExchangeReport:
        """``options``: level, as_of, role (responder | requester)."""
        return self._figures(
            "/api/v1/metrics/exchange", fig.ExchangeReport, region, period, options
        )

    def latency_figures(self, region: str, period: str, **options: Any) -> fig.LatencyReport:
        return self._figures("/api/v1/metrics/latency", fig.LatencyReport, region, period, options)

    def bulletin(self, region: str, period: str, **options: Any) -> fig.Bulletin:
        return self._figures("/api/v1/bulletin", fig.Bulletin, region, period,
                             {**options, "format": "json"})  # fmt: skip

    def bulletin_file(self, region: str, period: str, fmt: str, **options: Any) -> bytes:
        """The bulletin as ``csv``, ``xlsx`` or ``pdf`` bytes."""
        params = {"region": region, "period": period, "format": fmt, **options}
        return self.transport.send(Call("GET", "/api/v1/bulletin", params=params)).content

    def submit_report(
        self, report: rep.ReportSubmit | dict[str, Any], *, idempotency_key: str | None = None
    ) -> rep.ReportRead:
        body = body_of(rep.ReportSubmit, report)
        return self._write("POST", "/api/v1/reports", rep.ReportRead, body=body,
                           key=idempotency_key)  # fmt: skip

    def report_catalogue(self) -> rep.ReportCatalogueRead:
        return self._get("/api/v1/reports/catalogue", rep.ReportCatalogueRead)

    def reports(self, **filters: Any) -> rep.ReportList:
        """``filters``: region, period, department, cursor."""
        return self._get("/api/v1/reports", rep.ReportList, **filters)

    def report(self, report_id: uuid.UUID | str) -> rep.ReportDetail:
        return self._get(f"/api/v1/reports/{report_id}", rep.ReportDetail)

    def report_rates(self, region: str, period: str, **options: Any) -> rep.ReportRatesRead:
        return self._figures("/api/v1/reports/rates", rep.ReportRatesRead, region, period, options)

    def missing_reports(self, region: str, period: str, **options: Any) -> rep.MissingReportList:
        return self._figures(
            "/api/v1/reports/missing", rep.MissingReportList, region, period, options
        )

    def scorecard(self, region: str, period: str, **options: Any) -> score.ScorecardReport:
        from exchange_hub.scorecard import schemas as score

        return self._figures("/api/v1/scorecard", score.ScorecardReport, region, period, options)

    def scorecard_items(self, region: str, period: str, indicator: str, part: str,
                        **options: Any) -> score.BehindPage:  # fmt: skip
        from exchange_hub.scorecard import schemas as score

        options |= {"indicator": indicator, "part": part}
        return self._figures("/api/v1/scorecard/items", score.BehindPage, region, period, options)


P = TypeVar("P", msg.InboxPage, msg.OutboxPage)


def _pages(fetch: Callable[[str | None], P]) -> Iterator[P]:
    """Pages of a list with ``next_cursor``, from the first to the last."""
    cursor = None
    while True:
        page = fetch(cursor)
        yield page
        if not page.next_cursor:
            return
        cursor = page.next_cursor


class _spooled_ndjson:
    """Records from an iterator written to a temporary NDJSON file, removed afterwards."""

    def __init__(self, records: Iterable[rec.RecordIn | dict[str, Any]]) -> None:
        self.records = records
        self.file = tempfile.NamedTemporaryFile(suffix=".ndjson", delete=False)  # noqa: SIM115

    def __enter__(self) -> Path:
        with self.file as out:
            for record in self.records:
                out.write(body_of(rec.RecordIn, record) + b"\n")
        return Path(self.file.name)

    def __exit__(self, *exc: object) -> None:
        Path(self.file.name).unlink(missing_ok=True)

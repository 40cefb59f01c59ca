"""Structured JSON logs with request ids; every record masked (``masking.mask_text``)."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from exchange_hub.masking import mask_text, mask_values

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_EXTRAS = ("method", "path", "status", "duration_ms", "member", "client")
_TRACEBACKS = logging.Formatter()


# -- log records -------------------------------------------------------------------
def _mask_message(record: logging.LogRecord, masked: str) -> None:
    """Masked arguments where that gives the masked message (a formatter that unpacks
    them, as uvicorn's access log does, keeps working); else the message alone."""
    if isinstance(record.msg, str) and isinstance(record.args, tuple) and record.args:
        msg, args = mask_text(record.msg), tuple(mask_values(a) for a in record.args)
        try:
            if msg % args == masked:
                record.msg, record.args = msg, args
                return
        except (TypeError, ValueError):
            pass
    record.msg, record.args = masked, ()


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record's message, arguments, traceback and stack in place."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a broken format: logging reports it, masked
        record.msg, record.args = mask_text(str(record.msg)), ()
        return record
    masked = mask_text(message)
    if masked != message:
        _mask_message(record, masked)
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_text(_TRACEBACKS.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    return record


def install_record_masking() -> None:
    """Mask every log record as it is made, whatever its logger: every handler (the
    hub's, uvicorn's, pytest's, one added later) receives it masked. Extras set
    with ``extra=`` come after; ``JsonFormatter`` masks the ones it writes."""
    make = logging.getLogRecordFactory()
    if getattr(make, "masks_records", False):
        return

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(make(*args, **kwargs))

    masked_record.masks_records = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        if request_id := request_id_var.get():
            entry["request_id"] = mask_text(request_id)
        for key in _EXTRAS:
            if hasattr(record, key):
                entry[key] = mask_values(getattr(record, key))
        if record.exc_info:
            entry["error"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure_logging(json_logs: bool, level: int = logging.INFO) -> None:
    install_record_masking()
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("exchange_hub")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False

"""As-of times of the figures (the period type and its grammar: ``exchange_hub.periods``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from exchange_hub.errors import InvalidInput
from exchange_hub.workdays import SHANGHAI

_FUTURE_TOLERANCE = timedelta(minutes=5)


def parse_as_of(text: str | None, now: datetime, *, field: str = "as_of") -> datetime:
    """The evaluation time: ISO date (end of that day in Asia/Shanghai) or date-time; default now.

    A date-time without a zone is read as Asia/Shanghai. A time in the future
    is refused: figures describe what has happened.
    """
    if text is None or not text.strip():
        return now
    text = text.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time.max, tzinfo=SHANGHAI)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"{text!r} is not an ISO date or date-time (2026-11-01 or 2026-11-01T08:00:00+08:00)",
            field=field,
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    moment = moment.astimezone(UTC)
    if moment > now + _FUTURE_TOLERANCE:
        raise InvalidInput(f"{text} lies in the future; figures need a past time", field=field)
    return min(moment, now)

"""Demo traffic: six months of queries and notifications between a few provinces.

So that ``exchange-hub demo`` shows a bulletin with real-looking figures at
once: residence counties in Guangdong, Beijing, Zhejiang and Jiangsu query
origin counties in Henan, Sichuan, Anhui, Hunan and eastern Guangdong (Puning
and Lufeng people work in Shenzhen and Guangzhou too), so Guangdong shows
figures both as a destination and as an origin; each origin county answers
with its own diligence (one is slow and often finds no such person), so the
rankings differ. The six months end at the hub's clock, whatever day the demo
is made. Inserted in bulk, with encrypted bodies like real messages, and
skipped when the demo traffic is already there.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from stdnum.cn import ric

from exchange_hub import clock
from exchange_hub.crypto import KeyRing
from exchange_hub.metrics import aggregates, repository
from exchange_hub.workdays import WorkingCalendar, local_date
from exchange_hub.workdays_store import calendar_of

CASE_PREFIX = "DEMO-"
RESIDENCE = ["440305", "440106", "440304", "440113", "110105", "110108", "330106", "320106"]
# origin county → (share answered, mean days to answer, share not found)
ORIGINS = {
    "411324": (0.97, 3, 0.04),
    "410102": (0.92, 6, 0.06),
    "510116": (0.88, 9, 0.08),
    "341203": (0.75, 14, 0.18),
    "430102": (0.95, 4, 0.05),
    "445281": (0.93, 5, 0.05),
    "441581": (0.82, 10, 0.12),
}
MONTHS = 6
PER_DAY = 18
DAYS = {"urgent": 15, "normal": 30, "certificate": 7, "birth": 30, "other": 30}


def seed_demo_traffic(session: Session, keyring: KeyRing, *, now: datetime | None = None) -> int:
    """Insert the demo messages once; returns how many were added (0 when already there)."""
    if repository.has_message_with_case_prefix(session, CASE_PREFIX):
        return 0
    now = now or clock.now()
    current = repository.active_county_codes(session)
    residence = [c for c in RESIDENCE if c in current]
    origins = {c: p for c, p in ORIGINS.items() if c in current}
    rows = list(
        _messages(random.Random(20261123), keyring, residence, origins, now, calendar_of(session))
    )
    repository.insert_messages(session, rows)
    aggregates.rebuild(session)
    return len(rows)


def _messages(rng, keyring, residence, origins, now, calendar) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    start = now - timedelta(days=30 * MONTHS)
    for day in range(30 * MONTHS):
        for _ in range(rng.randint(PER_DAY // 2, PER_DAY * 3 // 2)):
            submitted = start + timedelta(days=day, seconds=rng.randrange(8 * 3600, 18 * 3600))
            if submitted >= now:
                continue
            home = rng.choice(list(origins))
            live = rng.choice(residence)
            yield _message(rng, keyring, live, home, origins[home], submitted, now, calendar)


def _message(rng, keyring, live, home, profile, submitted, now, calendar) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    answer_share, answer_days, not_found_share = profile
    kind = "query" if rng.random() < 0.7 else "notification"
    subtype = rng.choice(["urgent", "normal", "normal", "certificate"] if kind == "query"
                         else ["birth", "other", "other"])  # fmt: skip
    sender, recipient = (
        (home, live) if kind == "notification" and rng.random() < 0.2 else (live, home)
    )
    needs_feedback = kind == "query" or subtype == "birth"
    events = _events(rng, submitted, now, needs_feedback, answer_share, answer_days)
    id_number = _id_number(rng, home)
    content = {"kind": kind, "subtype": subtype, "subject": {"id_number": id_number},
               "purpose": "基本公共服务 demo"}  # fmt: skip
    result = None
    if events["answered_at"] is not None:
        result = "not_found" if rng.random() < not_found_share else "found"
    state = "answered" if events["answered_at"] else "received" if events["received_at"] else (
        "delivered" if events["delivered_at"] else "submitted"
    )  # fmt: skip
    return {
        "id": uuid.uuid4(), "kind": kind, "subtype": subtype,
        "from_region": sender, "to_region": recipient, "sender_member_id": None, "state": state,
        "needs_receipt": kind == "notification", "needs_feedback": needs_feedback,
        "purpose": content["purpose"], "case_ref": f"{CASE_PREFIX}{rng.randrange(10**8):08d}",
        "subject_index": keyring.blind_index(id_number), "record_id": None,
        "body": keyring.encrypt(json.dumps(content, ensure_ascii=False), "messages.body"),
        "body_digest": hashlib.sha256(json.dumps(content).encode()).hexdigest(),
        "sender_signature": None, "hub_receipt": None,
        "period": local_date(submitted).strftime("%Y-%m"), "submitted_at": submitted,
        **_deadline(calendar, submitted, subtype), **events,
        "withdrawn_at": None, "feedback_result": result,
        "feedback_body": None if result is None else keyring.encrypt(
            json.dumps({"result": result}), "messages.feedback_body"
        ),
        "updated_at": max(t for t in [submitted, *events.values()] if t is not None),
    }  # fmt: skip


def _events(
    rng: random.Random, submitted: datetime, now: datetime, needs_feedback: bool,
    answer_share: float, answer_days: float,
) -> dict[str, datetime | None]:  # fmt: skip
    delivered = submitted + timedelta(minutes=rng.expovariate(1 / 20))
    received = delivered + timedelta(hours=rng.expovariate(1 / 10))
    answered: datetime | None = None
    if needs_feedback and rng.random() < answer_share:
        answered = received + timedelta(days=rng.expovariate(1 / answer_days))
    moments = {"delivered_at": delivered, "received_at": received, "answered_at": answered}
    return {name: (t if t is not None and t <= now else None) for name, t in moments.items()}


def _id_number(rng: random.Random, county: str) -> str:
    born = f"{rng.randint(1970, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = f"{county}{born}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body)


def _deadline(calendar: WorkingCalendar, submitted: datetime, subtype: str) -> dict[str, Any]:
    deadline, basis = calendar.deadline_after(submitted, DAYS[subtype])
    return {"deadline": deadline, "deadline_basis": basis}

"""The maintained aggregates give exactly the figures of a raw scan, whatever happened to the rows.

The reference below is written from SPEC §5 directly, message by message,
independent of the hub's SQL; seeded random data in every state, evaluated
now and at past times (which exercises the correction for later changes).
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from exchange_hub.clock import CLOCK
from exchange_hub.db import transaction
from exchange_hub.holidays.package import package_calendar
from exchange_hub.metrics import aggregates, histogram, tasks
from exchange_hub.models import ExchangeCount, LatencyHistogram, Message, PendingCount
from tests.metrics.conftest import NATION_ADMIN
from tests.metrics.factories import at, make_messages, message_row

COUNTIES = ["440305", "440106", "440303", "110105", "110108", "411324", "410102", "510116"]
SUBTYPES = {"query": ["urgent", "normal", "certificate"], "notification": ["birth", "other"]}
DAYS = {"urgent": 15, "normal": 30, "certificate": 7, "birth": 30, "other": 30}
RESULTS = ["found", "not_found", "mismatch", "found_inactive", "multiple_candidates"]
START = at("2026-09-01 00:00")
LATEST = at("2026-11-20 00:00")


@pytest.fixture(autouse=True)
def _now_after_the_data(clock) -> None:
    """The figures are read a little after the last message, whatever the real date."""
    clock.pin(at("2026-12-01 10:00"))


def random_message(rng: random.Random) -> dict:
    kind = rng.choice(["query", "query", "notification"])
    subtype = rng.choice(SUBTYPES[kind])
    submitted = START + timedelta(
        seconds=rng.randrange(int((LATEST - START).total_seconds())),
        microseconds=rng.randrange(1_000_000),
    )
    spec: dict = dict(
        kind=kind,
        subtype=subtype,
        submitted_at=submitted,
        from_region=rng.choice(COUNTIES),
        to_region=rng.choice(COUNTIES),
        deadline=package_calendar().deadline_after(submitted, DAYS[subtype])[0],
        needs_feedback=kind == "query" or subtype == "birth",
    )
    if rng.random() < 0.05:
        spec["withdrawn_at"] = submitted + timedelta(minutes=rng.randrange(1, 300))
        return spec
    moment = submitted
    for step in ("delivered_at", "received_at", "answered_at"):
        if step == "answered_at" and not spec["needs_feedback"]:
            break
        if rng.random() < 0.15:
            break
        moment += timedelta(seconds=rng.choice([5, 59, 64, 3_000, 90_000, 900_000]) * rng.random())
        if moment > LATEST:
            break
        spec[step] = moment
    if "answered_at" in spec:
        spec["feedback_result"] = rng.choice(RESULTS)
    return spec


def reference(rows: list[dict], role: str, as_of: datetime) -> dict:
    """SPEC §5 message by message: {(county, kind): {figure: count}}."""
    figures: dict = defaultdict(lambda: defaultdict(int))
    for row in rows:
        if row["state"] == "withdrawn" or row["submitted_at"] > as_of:
            continue
        county = row["to_region"] if role == "responder" else row["from_region"]
        counts = figures[(county, row["kind"])]
        answered = row["answered_at"] is not None and row["answered_at"] <= as_of
        received = row["received_at"] is not None and row["received_at"] <= as_of
        counts["routed"] += 1
        counts["answered"] += answered
        counts["answered_on_time"] += answered and row["answered_at"] <= row["deadline"]
        counts["not_found"] += answered and row["feedback_result"] == "not_found"
        counts["due"] += answered or (row["needs_feedback"] and row["deadline"] < as_of)
        counts["received"] += received
        counts["receipt_due"] += received or (row["needs_receipt"] and row["deadline"] < as_of)
    return figures


def reference_latency(rows: list[dict], as_of: datetime) -> dict:
    """{(county, kind, leg): histogram} of whole seconds from submission, legs done by as_of."""
    found: dict = defaultdict(lambda: defaultdict(int))
    for row in rows:
        if row["state"] == "withdrawn" or row["submitted_at"] > as_of:
            continue
        for leg in ("delivered", "received", "answered"):
            end = row[f"{leg}_at"]
            if end is not None and end <= as_of:
                seconds = int((end - row["submitted_at"]) // timedelta(seconds=1))
                found[(row["to_region"], row["kind"], leg)][histogram.bucket_of(seconds)] += 1
    return found


def hub_figures(exchange, role: str, as_of: datetime | None) -> dict:
    figures = {}
    for period in ("2026-09", "2026-10", "2026-11"):
        report = exchange(
            region="000000",
            period=period,
            level="county",
            role=role,
            as_of=as_of.isoformat() if as_of else None,
        )
        for item in report.items:
            q, n = item.queries, item.notifications
            figures[(period, item.region, "query")] = (
                q.routed,
                q.due,
                q.answered,
                q.answered_on_time,
                q.not_found,
            )
            figures[(period, item.region, "notification")] = (n.routed, n.due, n.received)
    return figures


def expected_figures(rows: list[dict], role: str, as_of: datetime) -> dict:
    figures = {}
    for period in ("2026-09", "2026-10", "2026-11"):
        ref = reference([r for r in rows if r["period"] == period], role, as_of)
        for county in COUNTIES:
            q, n = ref[(county, "query")], ref[(county, "notification")]
            figures[(period, county, "query")] = (
                q["routed"],
                q["due"],
                q["answered"],
                q["answered_on_time"],
                q["not_found"],
            )
            figures[(period, county, "notification")] = (
                n["routed"],
                n["receipt_due"],
                n["received"],
            )
    return figures


def only_listed(figures: dict) -> dict:
    return {key: value for key, value in figures.items() if key[1] in COUNTIES}


AS_OF_TIMES = [None, at("2026-10-10 12:00"), at("2026-10-31 23:59:59"), at("2026-11-15 08:30")]


@pytest.fixture
def random_rows(insert) -> list[dict]:
    rng = random.Random(20261123)
    return insert(*[random_message(rng) for _ in range(600)])


# What the aggregates hold when the figures are read: nothing (the job never ran), all of
# it, or all but a few dirty partitions (read raw) and one month read raw whole.
STATES = ["never refreshed", "refreshed", "partly stale"]


def bring_to(state: str, hub, insert, random_rows: list[dict]) -> list[dict]:
    if state == "never refreshed":
        return random_rows
    tasks.refresh(hub.sessions)
    if state == "refreshed":
        return random_rows
    rng = random.Random(11)
    now = CLOCK.now()  # stamped when committed, as the exchange does
    insert(*[{**random_message(rng), "to_region": "110105", "from_region": "440305",
              "updated_at": now} for _ in range(20)])  # fmt: skip
    with transaction(hub.sessions) as session:
        month = session.scalars(select(Message).where(Message.period == "2026-10")).all()
        for message in month[:: max(1, len(month) // 3)]:
            message.updated_at = now
    from exchange_hub.metrics import figures

    with hub.sessions() as session:
        dirty = aggregates.unapplied(session).partitions
    assert dirty and all(len(r) <= figures.RAW_COUNTIES for r in dirty.values())
    return _all_rows(hub)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ["responder", "requester"])
@pytest.mark.parametrize("as_of", AS_OF_TIMES)
def test_aggregates_equal_a_raw_scan(random_rows, hub, insert, exchange, role, as_of, state):
    rows = bring_to(state, hub, insert, random_rows)
    moment = as_of or CLOCK.now()
    assert only_listed(hub_figures(exchange, role, as_of)) == expected_figures(rows, role, moment)


def test_a_month_with_many_dirty_counties_is_read_raw_whole(
    random_rows, hub, insert, exchange, monkeypatch
):
    from exchange_hub.metrics import figures

    rows = bring_to("partly stale", hub, insert, random_rows)
    monkeypatch.setattr(figures, "RAW_COUNTIES", 1)
    for role in ("responder", "requester"):
        expected = expected_figures(rows, role, CLOCK.now())
        assert only_listed(hub_figures(exchange, role, None)) == expected


def test_reading_figures_writes_nothing(random_rows, hub, insert, exchange):
    bring_to("partly stale", hub, insert, random_rows)
    before = _aggregate_rows(hub)
    with hub.sessions() as session:
        watermark = session.get(aggregates.RefreshState, aggregates.REFRESH_NAME).watermark
    hub_figures(exchange, "responder", None)
    hub_figures(exchange, "requester", at("2026-10-10 12:00"))
    assert _aggregate_rows(hub) == before
    with hub.sessions() as session:
        assert session.get(aggregates.RefreshState, aggregates.REFRESH_NAME).watermark == watermark


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("as_of", [None, at("2026-10-20 00:00")])
def test_latency_histograms_equal_a_raw_scan(random_rows, hub, insert, as_of, state):
    from exchange_hub.metrics.figures import Selection, load_figures

    rows = bring_to(state, hub, insert, random_rows)
    moment = as_of or CLOCK.now()
    with hub.sessions() as session:
        months = ("2026-09", "2026-10", "2026-11")
        selection = Selection(
            role="responder", months=months, scope="000000", as_of=moment, level="county"
        )
        figures = load_figures(session, selection)
    got = {key: {b: c for b, c in hist.items() if c} for key, hist in figures.latency.items()}
    want = reference_latency(rows, moment)
    assert {k: v for k, v in got.items() if v} == {k: dict(v) for k, v in want.items()}


def test_incremental_refresh_follows_every_change(random_rows, hub, insert, exchange):
    tasks.refresh(hub.sessions)  # the job builds the aggregates
    rng = random.Random(7)
    now = CLOCK.now()
    changed = _answer_and_withdraw(hub, rng, now)
    # New messages are stamped when they are committed, as the exchange does.
    added = insert(*[{**random_message(rng), "updated_at": now} for _ in range(80)])
    rows = _all_rows(hub)
    assert changed and added
    with hub.sessions() as session:
        assert aggregates.unapplied(session).partitions, "the changes are not folded in yet"
    for role in ("responder", "requester"):  # read: dirty partitions raw, the rest aggregated
        assert only_listed(hub_figures(exchange, role, None)) == expected_figures(rows, role, now)
    tasks.refresh(hub.sessions)
    with hub.sessions() as session:
        assert not aggregates.unapplied(session).partitions
    for role in ("responder", "requester"):  # read: all from the refreshed aggregates
        assert only_listed(hub_figures(exchange, role, None)) == expected_figures(rows, role, now)


def _answer_and_withdraw(hub, rng: random.Random, now: datetime) -> int:
    """Answer some open queries and withdraw some unreceived messages, as the exchange would."""
    with transaction(hub.sessions) as session:
        open_ = session.scalars(
            select(Message).where(Message.state.in_(["submitted", "delivered"]))
        )
        changed = 0
        for message in open_:
            if rng.random() < 0.5 and message.needs_feedback:
                message.received_at = message.answered_at = now - timedelta(minutes=1)
                message.state, message.feedback_result = "answered", "not_found"
            elif rng.random() < 0.3:
                message.withdrawn_at, message.state = now - timedelta(minutes=1), "withdrawn"
            else:
                continue
            message.updated_at = now - timedelta(minutes=1)
            changed += 1
    return changed


def _all_rows(hub) -> list[dict]:
    with hub.sessions() as session:
        return [
            {c.name: getattr(m, c.key) for c in Message.__table__.c}
            for m in session.scalars(select(Message))
        ]


def test_a_late_commit_inside_the_overlap_window_is_picked_up(random_rows, hub, insert, exchange):
    tasks.refresh(hub.sessions)
    with hub.sessions() as session:
        state = session.get(aggregates.RefreshState, aggregates.REFRESH_NAME)
        watermark = state.watermark
    # A transaction stamped a minute before the watermark commits only now.
    late = dict(
        submitted_at=watermark - timedelta(minutes=2),
        to_region="110105",
        answered_at=watermark - timedelta(minutes=1),
        feedback_result="not_found",
    )
    insert(late)
    rows = _all_rows(hub)
    now = CLOCK.now()
    tasks.refresh(hub.sessions)
    with hub.sessions() as session:
        assert not aggregates.unapplied(session).partitions, "the refresh folded the late commit in"
    assert only_listed(hub_figures(exchange, "responder", None)) == expected_figures(
        rows, "responder", now
    )


def _aggregate_rows(hub) -> tuple:
    with hub.sessions() as session:
        return tuple(
            sorted(
                tuple(getattr(r, c.key) for c in table.__table__.c)
                for r in session.scalars(select(table))
            )
            for table in (ExchangeCount, PendingCount, LatencyHistogram)
        )


def test_refresh_is_idempotent_and_matches_a_full_rebuild(random_rows, hub):
    tasks.refresh(hub.sessions)
    with transaction(hub.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.state == "delivered")
            .values(state="received", received_at=CLOCK.now(), updated_at=CLOCK.now())
        )
    tasks.refresh(hub.sessions)
    once = _aggregate_rows(hub)
    result = tasks.refresh(hub.sessions)
    assert result.changed_messages == 0
    assert _aggregate_rows(hub) == once
    tasks.refresh(hub.sessions, full=True)
    assert _aggregate_rows(hub) == once


def test_concurrent_refreshes_converge(random_rows, hub):
    tasks.refresh(hub.sessions)
    with transaction(hub.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.state == "submitted")
            .values(state="delivered", delivered_at=CLOCK.now(), updated_at=CLOCK.now())
        )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            tasks.refresh(hub.sessions)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    concurrent = _aggregate_rows(hub)
    tasks.refresh(hub.sessions, full=True)
    assert _aggregate_rows(hub) == concurrent


def test_first_read_of_an_empty_hub(exchange):
    report = exchange(region="000000", period="2026-10")
    assert report.total.queries.routed == 0
    assert report.total.queries.feedback_rate.rate is None
    assert NATION_ADMIN.region == "000000"


def test_factory_rows_carry_their_period(hub):
    row = message_row(submitted_at=at("2026-10-31 23:59"))
    assert row["period"] == "2026-10"
    with transaction(hub.sessions) as session:
        make_messages(session, [row])

"""Bulletin benchmark: the hub's maintained figures against a raw GROUP BY over messages.

    .venv/bin/python -m bench.bulletin --n 10000000 --keep     # load, time, keep the database
    .venv/bin/python -m bench.bulletin --n 10000000 --reuse    # time an already loaded database
    .venv/bin/python -m bench.bulletin --smoke                 # 20,000 messages, seconds

1. Generates N messages over the last 12 months across every current county,
   skewed as migration is (a few residence provinces send most queries to a
   few origin provinces), with realistic delivery, receipt and answer delays,
   late and missing answers, not-found results and withdrawals. Loads them
   into a fresh PostgreSQL database with one binary COPY into a staging
   table and one INSERT … SELECT (indexes built afterwards).
2. Builds the aggregates once (``metrics.aggregates.rebuild``).
3. Times, in the same run, (a) a plain SQL GROUP BY over the raw messages
   computing the bulletin's figures for one province and month (both roles,
   per county and counterpart province, due at the evaluation time, exact
   latency percentiles with ``percentile_disc``) and (b) the hub's bulletin
   (``build_bulletin``, which also runs the incremental refresh first).
4. Checks every count is identical and every percentile within the
   documented histogram bound, and prints both times and the ratio.

The database (``--database``, on the server of ``--admin-url``) is dropped at
the end unless ``--keep`` is given and the run succeeded. The period is the
last complete month (Asia/Shanghai) unless ``--period`` names one.
``--smoke``: 20,000 messages, one timed run each, a scratch database of
``--admin-url`` or ``HUB_TEST_DATABASE_URL`` (skipped without PostgreSQL),
always dropped.

Measured 2026-11-23 on the shared 2-core CI machine (load average 4–11 from
other jobs, so absolute times are noisy; the ratio is measured in one run):
10,000,000 messages loaded in 964 s, aggregates built in 832–872 s (then a
VACUUM ANALYZE of the three tables); province 41, 2026-10 (120,128 messages
routed to it): raw 5.97 s, hub 0.318 s, 18.8×; province 44: raw 4.59 s,
hub 0.220 s, 20.8×; figures identical in both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench._support import (
    add_admin_url_argument,
    add_smoke_argument,
    announce,
    create_database,
    drop_database,
    require_postgres,
    scratch_folder,
    scratch_name,
    stop_on_sigterm,
)
from exchange_hub import clock, migrations_util
from exchange_hub.bulletin import build_bulletin
from exchange_hub.bulletin.cli import OPERATOR
from exchange_hub.config import Settings
from exchange_hub.context import build_context
from exchange_hub.db import transaction
from exchange_hub.holidays.package import package_calendar
from exchange_hub.metrics import aggregates, histogram, service
from exchange_hub.region_codes import bundled_catalogue, level_of
from exchange_hub.workdays import SHANGHAI

KINDS = ["query", "notification"]
SUBTYPES = ["urgent", "normal", "certificate", "birth", "other"]
DEADLINE_DAYS = [15, 30, 7, 30, 30]
STATES = ["submitted", "delivered", "received", "answered", "withdrawn"]
RESULTS = [None, "found", "not_found", "mismatch", "found_inactive", "multiple_candidates"]
# Where migrants live (residence, 现居住地) and where they come from (户籍地).
RESIDENCE_WEIGHTS = {"44": 22, "33": 12, "32": 9, "31": 7, "11": 6, "35": 5, "12": 3, "37": 3}
ORIGIN_WEIGHTS = {"41": 14, "51": 10, "34": 9, "43": 8, "42": 6, "36": 6, "45": 5, "52": 5}
OTHER_SHARE = 30
CHUNK = 1_000_000
US = 1_000_000


# -- generation -----------------------------------------------------------------------
def current_counties() -> list[str]:
    return sorted(e.code for e in bundled_catalogue() if e.active and level_of(e.code) == "county")


def county_weights(counties: list[str], provinces: dict[str, int], rng) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Province shares from ``provinces`` (the rest split evenly); Zipf-like inside a province."""
    by_province: dict[str, list[int]] = defaultdict(list)
    for index, code in enumerate(counties):
        by_province[code[:2]].append(index)
    others = [p for p in by_province if p not in provinces]
    weights = np.zeros(len(counties))
    for province, members in by_province.items():
        share = provinces.get(province, OTHER_SHARE / max(len(others), 1))
        zipf = 1 / np.arange(1, len(members) + 1) ** 0.8
        rng.shuffle(zipf)
        weights[members] = share * zipf / zipf.sum()
    return weights / weights.sum()


def deadline_table(start_day: int, days: int) -> np.ndarray:
    """Epoch micros of the deadline per (local day offset, subtype) — working days honoured."""
    table = np.zeros((days + 2, len(SUBTYPES)), dtype=np.int64)
    base = datetime(1970, 1, 1, tzinfo=SHANGHAI)
    for offset in range(days + 2):
        local = (base + timedelta(days=start_day + offset)).replace(hour=12)
        for column, length in enumerate(DEADLINE_DAYS):
            moment, _basis = package_calendar().deadline_after(local, length)
            table[offset, column] = _micros(moment)
    return table


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def generate(n: int, rng, counties, now_us: int, months: list[str]):  # type: ignore[no-untyped-def]
    """One chunk of messages as a numpy structured array in PostgreSQL binary COPY layout."""
    residence = county_weights(counties, RESIDENCE_WEIGHTS, np.random.default_rng(1))
    origin = county_weights(counties, ORIGIN_WEIGHTS, np.random.default_rng(2))
    start_us = now_us - 365 * 86_400 * US
    local_offset = 8 * 3600 * US
    first_day = (start_us + local_offset) // (86_400 * US)
    deadlines = deadline_table(int(first_day), 366)
    month_index = {m: i for i, m in enumerate(months)}
    while True:
        yield _chunk(n, rng, residence, origin, start_us, now_us, first_day, deadlines, month_index)


def _chunk(n, rng, residence, origin, start_us, now_us, first_day, deadlines, month_index):  # type: ignore[no-untyped-def]
    size = len(residence)
    live = rng.choice(size, n, p=residence)
    home = rng.choice(size, n, p=origin)
    is_query = rng.random(n) < 0.7
    subtype = np.where(
        is_query,
        rng.choice(3, n, p=[0.15, 0.70, 0.15]),
        rng.choice([3, 4], n, p=[0.2, 0.8]),
    )
    backwards = ~is_query & (rng.random(n) < 0.2)  # origin → residence notifications
    sender = np.where(backwards, home, live)
    recipient = np.where(backwards, live, home)
    needs_feedback = subtype <= 3
    submitted = rng.integers(start_us, now_us - 3600 * US, n)
    local_day = (submitted + 8 * 3600 * US) // (86_400 * US) - first_day
    deadline = deadlines[local_day, subtype]
    withdrawn = np.where(rng.random(n) < 0.01, submitted + rng.integers(60, 7200, n) * US, 0)
    delivered = _later(rng, submitted, 1800, 0.98, now_us, withdrawn == 0)
    received = _later(rng, delivered, 0.7 * 86_400, 0.93, now_us, delivered > 0)
    days = np.array(DEADLINE_DAYS)[subtype]
    answer_delay = (rng.exponential(0.45 * days * 86_400) * US).astype(np.int64)
    answered = np.where(
        needs_feedback & (received > 0) & (rng.random(n) < 0.92), received + answer_delay, 0
    )
    answered = np.where(answered > now_us, 0, answered)
    not_found_bias = np.where(np.isin(home % 97, [3, 5, 7]), 0.25, 0.07)  # a few bad routers
    roll = rng.random(n)
    result = np.where(roll < not_found_bias, 2, np.where(roll < 0.85, 1, rng.choice([3, 4, 5], n)))
    result = np.where(answered > 0, result, 0)
    state = np.select(
        [withdrawn > 0, answered > 0, received > 0, delivered > 0], [4, 3, 2, 1], default=0
    )
    updated = np.maximum.reduce([submitted, delivered, received, answered, withdrawn])
    month = _month_indexes(submitted, month_index)
    return _copy_rows(
        [
            (is_query == 0).astype(np.int16), subtype.astype(np.int16), sender.astype(np.int32),
            recipient.astype(np.int32), (needs_feedback.astype(np.int16) | 2),
            state.astype(np.int16), result.astype(np.int16), month.astype(np.int16),
            submitted, deadline, delivered, received, answered, withdrawn, updated,
        ]
    )  # fmt: skip


def _later(rng, after, mean_seconds, share, now_us, eligible):  # type: ignore[no-untyped-def]
    delay = (rng.exponential(mean_seconds, len(after)) * US).astype(np.int64)
    moment = np.where(eligible & (rng.random(len(after)) < share), after + delay, 0)
    return np.where(moment > now_us, 0, moment)


def _month_indexes(submitted: np.ndarray, month_index: dict[str, int]) -> np.ndarray:
    local = (submitted // US + 8 * 3600).astype("datetime64[s]").astype("datetime64[M]")
    labels = np.datetime_as_string(local, unit="M")
    lookup = np.vectorize(month_index.__getitem__, otypes=[np.int16])
    unique, inverse = np.unique(labels, return_inverse=True)
    return lookup(unique)[inverse]


STAGING_TYPES = ["int2", "int2", "int4", "int4", "int2", "int2", "int2", "int2"] + ["int8"] * 7
STAGING_NAMES = ["kind_i", "subtype_i", "from_i", "to_i", "flags", "state_i", "result_i",
                 "period_i", "submitted", "deadline", "delivered", "received", "answered",
                 "withdrawn", "updated"]  # fmt: skip


def _copy_rows(columns: list[np.ndarray]) -> bytes:
    """Rows in PostgreSQL's binary COPY format, built as one structured numpy array."""
    fields = [("count", ">i2")]
    for name, kind in zip(STAGING_NAMES, STAGING_TYPES, strict=True):
        width = {"int2": 2, "int4": 4, "int8": 8}[kind]
        fields += [(f"{name}_len", ">i4"), (name, f">i{width}")]
    rows = np.zeros(len(columns[0]), dtype=np.dtype(fields))
    rows["count"] = len(STAGING_NAMES)
    for name, kind, values in zip(STAGING_NAMES, STAGING_TYPES, columns, strict=True):
        rows[f"{name}_len"] = {"int2": 2, "int4": 4, "int8": 8}[kind]
        rows[name] = values
    return rows.tobytes()


# -- loading --------------------------------------------------------------------------
def load(url: str, n: int, seed: int, now: datetime) -> list[str]:
    counties = current_counties()
    months = _months(now)
    chunk = min(CHUNK, n)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        indexes = _drop_indexes(conn)
        columns = ", ".join(f"{n_} {t}" for n_, t in zip(STAGING_NAMES, STAGING_TYPES, strict=True))
        conn.execute(f"CREATE UNLOGGED TABLE bench_staging ({columns})")  # type: ignore[arg-type]
        rng = np.random.default_rng(seed)
        chunks = generate(chunk, rng, counties, _micros(now), months)
        loaded = 0
        with conn.cursor().copy("COPY bench_staging FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8)
            while loaded < n:
                block = next(chunks)
                take = min(chunk, n - loaded)
                row_size = len(block) // chunk
                copy.write(block[: take * row_size])
                loaded += take
            copy.write(b"\xff\xff")
        conn.execute(_insert_sql(counties, months))  # type: ignore[arg-type]
        conn.execute("DROP TABLE bench_staging")
        for definition in indexes:
            conn.execute(definition)  # type: ignore[arg-type]
        conn.execute("VACUUM ANALYZE messages")
    return counties


def _drop_indexes(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages'"
        " AND indexname <> 'pk_messages'"
    ).fetchall()
    for name, _definition in rows:
        conn.execute(f'DROP INDEX "{name}"')  # type: ignore[arg-type]
    return [definition for _name, definition in rows]


def _array(values: list[str | None]) -> str:
    inner = ",".join("NULL" if v is None else f'"{v}"' for v in values)
    return f"'{{{inner}}}'::text[]"


def _insert_sql(counties: list[str], months: list[str]) -> str:
    def ts(column: str) -> str:
        moment = f"TIMESTAMPTZ 'epoch' + {column} * INTERVAL '1 microsecond'"
        return f"CASE WHEN {column} = 0 THEN NULL ELSE {moment} END"

    return f"""
        INSERT INTO messages (id, kind, subtype, from_region, to_region, state, needs_receipt,
            needs_feedback, purpose, body, body_digest, period, submitted_at, deadline,
            delivered_at, received_at, answered_at, withdrawn_at, feedback_result, updated_at)
        SELECT gen_random_uuid(), ({_array(KINDS)})[kind_i + 1],
            ({_array(SUBTYPES)})[subtype_i + 1], ({_array(counties)})[from_i + 1],
            ({_array(counties)})[to_i + 1], ({_array(STATES)})[state_i + 1],
            (flags & 2) = 2, (flags & 1) = 1, 'bench', '', '',
            ({_array(months)})[period_i + 1], {ts("submitted")}, {ts("deadline")},
            {ts("delivered")}, {ts("received")}, {ts("answered")}, {ts("withdrawn")},
            ({_array(RESULTS)})[result_i + 1], {ts("updated")}
        FROM bench_staging"""


def _months(now: datetime) -> list[str]:
    local = now.astimezone(SHANGHAI)
    months = []
    year, month = local.year - 1, local.month
    for _ in range(14):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# -- the raw scan ---------------------------------------------------------------------
RAW_COUNTS = """
SELECT {region} AS region, substr({other}, 1, 2) || '0000' AS counterpart, kind,
  count(*) AS routed,
  count(*) FILTER (WHERE answered_at <= :t) AS answered,
  count(*) FILTER (WHERE answered_at <= :t AND answered_at <= deadline) AS answered_on_time,
  count(*) FILTER (WHERE answered_at <= :t AND feedback_result = 'not_found') AS not_found,
  count(*) FILTER (WHERE answered_at <= :t OR (needs_feedback AND deadline < :t)) AS due,
  count(*) FILTER (WHERE received_at <= :t) AS received,
  count(*) FILTER (WHERE received_at <= :t OR (needs_receipt AND deadline < :t)) AS receipt_due
FROM messages
WHERE period = :period AND {region} >= :low AND {region} < :high
  AND state <> 'withdrawn' AND submitted_at <= :t
GROUP BY 1, 2, 3"""

RAW_LATENCY = """
SELECT to_region, kind, {n} AS leg, count(*),
  percentile_disc(0.5) WITHIN GROUP (ORDER BY s), percentile_disc(0.9) WITHIN GROUP (ORDER BY s),
  percentile_disc(0.99) WITHIN GROUP (ORDER BY s)
FROM (SELECT to_region, kind, floor(extract(epoch FROM {col} - submitted_at)) AS s
      FROM messages
      WHERE period = :period AND to_region >= :low AND to_region < :high
        AND state <> 'withdrawn' AND {col} <= :t) legs
GROUP BY GROUPING SETS ((to_region, kind), (kind))"""


def raw_scan(session, province: str, period: str, as_of: datetime):  # type: ignore[no-untyped-def]
    low, high = province[:2] + "0000", str(int(province[:2]) + 1) + "0000"
    params = {"period": period, "low": low, "high": high, "t": as_of}
    counts = {}
    for role, region, other in (
        ("responder", "to_region", "from_region"),
        ("requester", "from_region", "to_region"),
    ):
        sql = text(RAW_COUNTS.format(region=region, other=other))
        counts[role] = [tuple(row) for row in session.execute(sql, params)]
    latency = []
    for leg, column in (("delivered", "delivered_at"), ("received", "received_at"),
                        ("answered", "answered_at")):  # fmt: skip
        sql = text(RAW_LATENCY.format(n=f"'{leg}'", col=column))
        latency += [tuple(row) for row in session.execute(sql, params)]
    return counts, latency


# -- comparison -----------------------------------------------------------------------
def compare(session, province, period, as_of, raw) -> list[str]:  # type: ignore[no-untyped-def]
    counts, latency = raw
    problems = []
    for role in ("responder", "requester"):
        report = service.exchange_report(
            session, OPERATOR, region=province, period=period, level="county", role=role,
            as_of=as_of.isoformat(),
        )  # fmt: skip
        hub = {(c.region, c.counterpart, "query"): c.queries for c in report.matrix}
        hub |= {(c.region, c.counterpart, "notification"): c.notifications for c in report.matrix}
        for region, counterpart, kind, routed, ans, on_time, nf, due, rec, rdue in counts[role]:
            cell = hub.get((region, counterpart, kind))
            if kind == "query":
                want = (routed, ans, on_time, nf, due)
                got = cell and (cell.routed, cell.answered, cell.answered_on_time,
                                cell.not_found, cell.due)  # fmt: skip
            else:
                want, got = (routed, rec, rdue), cell and (cell.routed, cell.received, cell.due)
            if want != got:
                problems.append(f"{role} {region}×{counterpart} {kind}: raw {want} hub {got}")
        raw_cells = {(r[0], r[1], r[2]) for r in counts[role]}
        extra = [k for k, v in hub.items() if k not in raw_cells and v.routed]
        problems += [f"{role} {k}: only in the hub" for k in extra]
    problems += _compare_latency(session, province, period, as_of, latency)
    return problems


def _compare_latency(session, province, period, as_of, latency) -> list[str]:  # type: ignore[no-untyped-def]
    report = service.latency_report(
        session, OPERATOR, region=province, period=period, level="county", role="responder",
        as_of=as_of.isoformat(),
    )  # fmt: skip
    hub = {}
    for item in [report.total, *report.items]:
        code = None if item is report.total else item.region
        for kind, legs in (("query", item.queries), ("notification", item.notifications)):
            for leg in legs:
                hub[(code, kind, leg.leg)] = leg
    problems = []
    for region, kind, leg, count, p50, p90, p99 in latency:
        mine = hub[(region, kind, leg)]
        if mine.count != count:
            problems.append(f"latency {region} {kind} {leg}: count raw {count} hub {mine.count}")
        for exact, approx in ((p50, mine.median_seconds), (p90, mine.p90_seconds),
                              (p99, mine.p99_seconds)):  # fmt: skip
            bound = float(exact) * histogram.RELATIVE_ERROR + 1
            if approx is None or abs(approx - float(exact)) > bound:
                problems.append(f"latency {region} {kind} {leg}: raw {exact} hub {approx}")
    return problems


def timed(runs: int, work) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


# -- main -----------------------------------------------------------------------------
def last_complete_month(now: datetime) -> str:
    """``YYYY-MM`` of the month before ``now``'s in Asia/Shanghai: complete, and inside
    the twelve months the bench generates whenever it runs."""
    first = now.astimezone(SHANGHAI).date().replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="messages to load")
    add_admin_url_argument(parser, "postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument("--database", default="hub_bench_bulletin")
    parser.add_argument("--province", default="410000", help="province of the bulletin")
    parser.add_argument("--period", help="YYYY-MM (default: the last complete month)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--reuse", action="store_true", help="skip loading; time only")
    parser.add_argument("--rebuild", action="store_true", help="with --reuse: rebuild aggregates")
    parser.add_argument("--keep", action="store_true", help="keep the database for --reuse")
    add_smoke_argument(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        if args.reuse:
            parser.error("--smoke loads its own database; it cannot --reuse one")
        args.n, args.runs, args.keep = 20_000, 1, False
    args.period = args.period or last_complete_month(clock.now())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    admin = require_postgres(args, "its baseline is a raw GROUP BY over messages in PostgreSQL")
    announce(args)
    with scratch_folder("bulletin") as data_dir, bulletin_database(args, admin) as url:
        hub = build_context(Settings(database_url=url, data_dir=data_dir, log_json=False))
        try:
            return _measure(hub, args)
        finally:
            hub.dispose()


@contextmanager
def bulletin_database(args: argparse.Namespace, admin: str) -> Iterator[str]:
    """The database to time: ``--reuse``'s as it is, else a new one, migrated and loaded,
    dropped afterwards unless ``--keep`` and the run succeeded."""
    if args.reuse:
        yield make_url(admin).set(database=args.database).render_as_string(hide_password=False)
        return
    name = scratch_name("bulletin") if args.smoke else args.database
    keep = False
    try:
        url = create_database(admin, name)
        migrations_util.upgrade(url)
        started = time.perf_counter()
        load(url, args.n, args.seed, clock.now())
        print(f"loaded {args.n:,} messages in {time.perf_counter() - started:.1f} s")
        yield url
        keep = args.keep
    finally:
        if keep:
            print(f"database {name} kept: time it again with --reuse --database {name}")
        else:
            drop_database(admin, name)


def _measure(hub, args) -> int:  # type: ignore[no-untyped-def]
    if not args.reuse or args.rebuild:
        started = time.perf_counter()
        with transaction(hub.sessions) as session:
            aggregates.rebuild(session)
        print(f"aggregates built in {time.perf_counter() - started:.1f} s")
    with hub.sessions() as session:
        total = session.scalar(text("SELECT count(*) FROM messages"))
        month = session.scalar(
            text("SELECT count(*) FROM messages WHERE period = :p AND to_region LIKE :r"),
            {"p": args.period, "r": args.province[:2] + "%"},
        )
    print(f"{total:,} messages; {month:,} routed to {args.province} in {args.period}")
    as_of = clock.now()
    with hub.sessions() as session:
        # JIT compilation would add ~1 s to the raw scan; switching it off favours the baseline.
        session.execute(text("SET jit = off"))
        raw_time, raw = timed(
            args.runs, lambda: raw_scan(session, args.province, args.period, as_of)
        )
    with hub.sessions() as session:

        def bulletin() -> object:
            result = build_bulletin(session, OPERATOR, region=args.province, period=args.period,
                                    as_of=as_of.isoformat())  # fmt: skip
            session.commit()
            return result

        hub_time, _ = timed(args.runs, bulletin)
        problems = compare(session, args.province, args.period, as_of, raw)
        session.rollback()
    print(f"(a) raw SQL GROUP BY over messages : {raw_time * 1000:8.1f} ms (median of {args.runs})")
    print(
        f"(b) hub bulletin (refresh + build)  : {hub_time * 1000:8.1f} ms (median of {args.runs})"
    )
    print(f"ratio raw / hub                      : {raw_time / hub_time:8.1f}×")
    if problems:
        print(f"FIGURES DIFFER ({len(problems)}):", *problems[:20], sep="\n  ")
        return 1
    print("figures identical (counts exact; percentiles within the documented histogram bound)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

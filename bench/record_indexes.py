"""What the indexes of ``records`` cost a batch: binary COPY into ``records`` against a plain copy.

    .venv/bin/python -m bench.record_indexes [--n 200000] [--revision 0007] [--random-ids]
        [--admin-url postgresql://postgres@127.0.0.1/postgres] [--smoke]

A fresh PostgreSQL database is migrated to head (then down to ``--revision``
when given, to measure an older index set), N realistic new active rows of
one county are built (blind indexes ``HS256.<kid>.<64 hex>``, AES-GCM-sized
tokens, ids from ``models.base.new_id``, or uuid4 with ``--random-ids``) and
encoded once as binary COPY data, which is then copied three times into (a)
``CREATE TABLE … (LIKE records)``, which has no index, and (b) ``records``
with its indexes, both emptied (and checkpointed, so that full-page writes
count as in steady ingest) before each run: the client only sends bytes, so
the figures are the server's. Needs a superuser (CHECKPOINT). Prints the
median rows/s of each and the ratio (b)/(a).

Measured 2026-11-23 on the 2-core CI machine (PostgreSQL 15, database
locale C.UTF-8, shared_buffers 128 MB), other helpers' tests running beside
(load 1.0-2.6), two rounds, (b) rows/s and the ratio (b)/(a):

    indexes          ids          round 1          round 2
    0007 (before)    uuid4        56,288  0.24     50,579  0.20
    0007             new_id v7    70,104  0.23     55,412  0.22
    0008             uuid4        75,549  0.28     71,774  0.27
    0008 (after)     new_id v7    89,505  0.36     72,526  0.35

(a), the plain table, ran at 210,000-305,000 rows/s. With each index of
0008 alone beside the primary key (dropping the others by hand in such a
database, new_id ids, one run, load ~3): pk only 197,000,
+ uq_records_active_person 75,000, + ix_records_name_lookup 133,000,
+ ix_records_county_updated 202,000, + ix_records_id_index_retired 229,000:
the unique index on the random blind index is most of what remains.

``--smoke``: 1,000 rows on a scratch database of ``--admin-url`` or
``HUB_TEST_DATABASE_URL``; skipped without PostgreSQL. The database is
dropped at the end, also when the run fails.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import psycopg
from alembic import command
from sqlalchemy.engine import make_url

from bench._support import (
    add_admin_url_argument,
    add_smoke_argument,
    announce,
    require_postgres,
    scratch_database,
    stop_on_sigterm,
)
from exchange_hub import clock, migrations_util
from exchange_hub.models.base import new_id
from exchange_hub.records import repository

COUNTY = "440305"
BORN_FROM = date(1960, 1, 1)
INDEX_KID = "i3f9a61c2"
DATA_KID = "d8b27e415"
# Plaintext sizes in bytes (UTF-8) of the encrypted columns: 18-character ID
# number, a 3-character Chinese name, an 11-digit phone, a ~20-character address.
PLAIN_BYTES = {"id_number_enc": 18, "name_enc": 9, "phone_enc": 11, "address_enc": 60}
COLUMNS = ", ".join(repository.RECORD_COLUMNS)


def blind_index(rng: random.Random) -> str:
    return f"HS256.{INDEX_KID}.{rng.randbytes(32).hex()}"


def token(rng: random.Random, plain_bytes: int) -> str:
    """``A256GCM.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`` of a plaintext this long."""
    sealed = rng.randbytes(12 + plain_bytes + 16)
    return f"A256GCM.{DATA_KID}.{base64.urlsafe_b64encode(sealed).rstrip(b'=').decode()}"


def build_rows(n: int, make_id: Callable[[], uuid.UUID], seed: int = 2026) -> list[tuple[Any, ...]]:
    """N new active records of one county, as tuples in ``RECORD_COLUMNS`` order."""
    rng = random.Random(seed)
    now = clock.now()
    names = [blind_index(rng) for _ in range(max(n // 4, 1))]  # names repeat; ID numbers do not
    rows = []
    for i in range(n):
        outflow = rng.random() < 0.7
        values = {
            "id": make_id(), "kind": "outflow" if outflow else "inflow", "status": "active",
            "registering_region": COUNTY, "other_region": "110105",
            "hukou_region": COUNTY if outflow else "110105",
            "residence_region": "110000" if outflow else COUNTY, "member_id": None,
            "id_index": blind_index(rng), "name_index": rng.choice(names),
            "content_index": blind_index(rng), "data_key_id": DATA_KID,
            "sex": rng.choice("MF"), "birth_date": BORN_FROM + timedelta(rng.randrange(20000)),
            "ethnicity": "01", "marital_status": rng.choice(["10", "20", "20", "40"]),
            "moved_on": date(2026, 1, 1) + timedelta(rng.randrange(300)),
            "certificate_number": f"GD{i:08d}", "certificate_issued_by": COUNTY,
            "certificate_issued_on": date(2025, 1, 1),
            "certificate_valid_until": date(2028, 12, 31),
            "certificate_checked": None if outflow else True, "children_count": rng.randrange(4),
            "contraception": "iud", "pregnancy_status": "not_pregnant", "last_birth_date": None,
            "key_object": False, "key_reasons": None, "id_check_flagged": False,
            "id_converted": False, "hukou_missing": False, "deregister_reason": None,
            "deregistered_on": None, "version": 1, "version_action": "created",
            "created_at": now, "updated_at": now, "updated_by": "bench",
        }  # fmt: skip
        values.update({column: token(rng, size) for column, size in PLAIN_BYTES.items()})
        rows.append(tuple(values[c] for c in repository.RECORD_COLUMNS))
    return rows


def encoded(dsn: str, rows: list[tuple[Any, ...]]) -> list[bytes]:
    """The rows as binary COPY data, encoded once (by the server, through
    ``bench_plain``) so that the timed runs measure the server alone."""
    types = [repository.pg_type(repository.RECORDS, c) for c in repository.RECORD_COLUMNS]
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY bench_plain ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        with cursor.copy(f"COPY bench_plain ({COLUMNS}) TO STDOUT (FORMAT BINARY)") as copy:
            return [bytes(block) for block in copy]


def timed_copy(dsn: str, table: str, data: list[bytes]) -> float:
    """Seconds to COPY the data into the emptied table and commit."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"TRUNCATE {table} CASCADE")  # type: ignore[arg-type]
        conn.commit()
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        sql = f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
        with conn.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[arg-type]
            for block in data:
                copy.write(block)
        conn.commit()
        return time.perf_counter() - started


def index_definitions(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        query = "SELECT indexdef FROM pg_indexes WHERE tablename = 'records' ORDER BY indexname"
        return [row[0] for row in conn.execute(query)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--revision", help="migrate down to this revision (e.g. 0007)")
    parser.add_argument("--random-ids", action="store_true", help="uuid4 ids instead of new_id()")
    add_admin_url_argument(parser, "postgresql://postgres@127.0.0.1/postgres")
    add_smoke_argument(parser)
    args = parser.parse_args()
    if args.smoke:
        args.n = 1_000
    stop_on_sigterm()
    admin = require_postgres(args, "it measures COPY into PostgreSQL")
    announce(args)
    with scratch_database(admin, "idx") as url:
        migrations_util.upgrade(url)
        if args.revision:
            command.downgrade(migrations_util.alembic_config(url), args.revision)
        measure(args, make_url(url).set(drivername="postgresql").render_as_string(False))


def measure(args: argparse.Namespace, dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE bench_plain (LIKE records)")
    print("indexes of records:", *index_definitions(dsn), sep="\n  ")
    data = encoded(dsn, build_rows(args.n, uuid.uuid4 if args.random_ids else new_id))
    seconds: dict[str, list[float]] = {"bench_plain": [], "records": []}
    for _ in range(3):  # alternate, so that a busy moment hurts both
        for table, runs in seconds.items():
            runs.append(timed_copy(dsn, table, data))
    rates = {table: args.n / statistics.median(runs) for table, runs in seconds.items()}
    ids = "uuid4" if args.random_ids else "new_id()"
    print(f"(a) plain table (LIKE records) {rates['bench_plain']:>9,.0f} rows/s (median of 3)")
    print(f"(b) records with its indexes   {rates['records']:>9,.0f} rows/s (median of 3)")
    ratio = rates["records"] / rates["bench_plain"]
    print(f"ratio (b)/(a) = {ratio:.2f}   ({args.n} rows, ids {ids})")


if __name__ == "__main__":
    main()

"""The hub through a real PgBouncer in transaction pooling mode (issue 18).

With transaction pooling each transaction may run on another server
connection: prepared statements made on one are unknown on the next (PgBouncer
1.18 has no prepared-statement support), and session state does not follow.
``HUB_DATABASE_POOLER=transaction`` turns psycopg's server-side preparing off;
this test drives the exchange through PgBouncer with two server connections
for long enough that psycopg would have prepared its statements (it does after
five executions) and checks every answer.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from exchange_hub import clock
from exchange_hub.context import HubContext
from exchange_hub.db import make_engine
from exchange_hub.periods import month_of
from tests.exchange.helpers import act, send_query
from tests.fixtures.hub import client_for, make_context, make_member

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
ROUNDS = 12  # psycopg prepares a statement on its sixth execution


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def pooled_url(database_url: str) -> Iterator[str]:
    if not database_url.startswith("postgresql"):
        pytest.skip("PgBouncer stands before PostgreSQL: set HUB_TEST_DATABASE_URL")
    if not os.path.exists(PGBOUNCER):
        pytest.skip("Debian's pgbouncer is not installed (.ci/run installs it)")
    target, port = make_url(database_url), _free_port()
    # Outside pytest's folders, which only root may enter: PgBouncer runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="hub-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "users.txt").write_text(f'"{target.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"hub = host={target.host or '127.0.0.1'} port={target.port or 5432} "
        f"dbname={target.database} user={target.username}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 100\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        shutil.chown(folder, "postgres")
        for child in folder.iterdir():
            shutil.chown(child, "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    output = folder / "output.txt"
    with output.open("wb") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = target.set(host="127.0.0.1", port=port, database="hub")
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=2, prepare_threshold=None).close()
            break
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                said = output.read_text(errors="replace")
                shutil.rmtree(folder, ignore_errors=True)
                pytest.fail(f"PgBouncer did not start: {said}")
            time.sleep(0.1)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pooled_hub(pooled_url: str, tmp_path: Path) -> Iterator[HubContext]:
    context = make_context(pooled_url, tmp_path / "data", database_pooler="transaction")
    yield context
    context.dispose()


def test_the_exchange_runs_through_transaction_pooling(pooled_hub: HubContext) -> None:
    asker = make_member(pooled_hub, role="county", region="440305")
    origin = make_member(pooled_hub, role="county", region="110105")
    admin = make_member(pooled_hub, role="admin", region="000000")
    with client_for(pooled_hub) as client:
        sent = [send_query(client, asker, origin) for _ in range(ROUNDS)]
        seen: list[str] = []
        while len(seen) < ROUNDS:
            items = client.get("/api/v1/inbox", headers=origin.headers).json()["items"]
            assert items, f"the inbox ran dry after {len(seen)} of {ROUNDS}"
            seen += [item["id"] for item in items]
        assert sorted(seen) == sorted(sent)
        for message_id in sent:
            answer = act(client, origin, message_id, "feedback", result="not_found")
            assert answer.status_code == 200, answer.text
        figures = client.get(
            "/api/v1/metrics/exchange",
            params={"region": "110105", "period": month_of(clock.now()).label},
            headers=admin.headers,
        )
        assert figures.status_code == 200, figures.text
        assert figures.json()["total"]["queries"]["answered"] == ROUNDS
        changes = client.get("/api/v1/changes", headers=asker.headers)
        assert changes.status_code == 200, changes.text


@pytest.mark.parametrize("pooler", ["transaction", "none"])
def test_the_setting_is_what_makes_pooling_work(pooled_url: str, pooler: str) -> None:
    """Two of the hub's pooled connections taking turns on PgBouncer's two server
    connections: with psycopg's defaults a statement prepared on one server connection
    is soon run on the other, which does not know it."""
    engine = make_engine(pooled_url, pool_size=2, pooler=pooler)
    failures = 0
    try:
        with engine.connect() as one, engine.connect() as two:
            for round_ in range(ROUNDS):
                for conn in (one, two, two):
                    try:
                        conn.execute(text("SELECT CAST(:n AS int) + 1"), {"n": round_}).one()
                        conn.commit()
                    except DBAPIError:
                        failures += 1
                        conn.rollback()
    finally:
        engine.dispose()
    if pooler == "transaction":
        assert failures == 0
    else:
        assert failures > 0, "psycopg's defaults did not break: the test proves nothing"

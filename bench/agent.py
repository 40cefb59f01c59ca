"""``exchange-hub-agent push`` against the same file sent with curl, in one run.

    .venv/bin/python -m bench.agent [--n 200000] [--formats csv,xlsx] [--admin-url …] [--smoke]

For each format (CSV and XLSX of ``--n`` records, generated as ``bench/ingest.py``
generates them), twice each and alternately:

1. **curl** (the baseline): ``curl --data-binary @FILE`` to ``POST /api/v1/records/batch``
   with the county's key and an ``Idempotency-Key``: the raw upload, nothing else.
2. **agent**: the same file dropped in an outbox, ``exchange-hub-agent push`` run as a
   process (its start-up, hashing the file for the content-derived key, the upload,
   the state file, the report and the move to ``sent/``).

Every measurement runs on a fresh hub (uvicorn on 127.0.0.1) and a fresh database,
so both land the same records into the same empty tables. Prints records/s of each,
the CPU time of the client (curl or the agent) and of the hub, and the ratios agent /
curl of the best wall times and of client + hub CPU (target: below 1.10; on a shared
machine the CPU ratio is the steadier one). PostgreSQL from
``--admin-url``; in smoke mode (300 records) from ``HUB_TEST_DATABASE_URL``, else a
SQLite file.
"""

from __future__ import annotations

import argparse
import csv
import io
import resource
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._support import (
    add_admin_url_argument,
    add_smoke_argument,
    admin_url,
    announce,
    scratch_database,
    scratch_folder,
    stop_on_sigterm,
)
from bench.ingest import Hub, county_key, generate
from exchange_hub import migrations_util
from exchange_hub.client import media_type_of
from exchange_hub.records.checking import CSV_COLUMNS

BIN = Path(sys.executable).parent


def flat(row: dict[str, Any]) -> list[Any]:
    cells = []
    for path in CSV_COLUMNS.values():
        value: Any = row
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        cells.append("" if value is None else value)
    return cells


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(list(CSV_COLUMNS))
    writer.writerows(flat(row) for row in rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def write_xlsx(rows: list[dict[str, Any]], path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("登记")
    sheet.append(list(CSV_COLUMNS))
    for row in rows:
        sheet.append(flat(row))
    book.save(path)


def fresh_hub(stack: ExitStack, admin: str | None, work: Path, label: str) -> tuple[Hub, str]:
    if admin:
        url = stack.enter_context(scratch_database(admin, "agent"))
    else:
        url = f"sqlite:///{work / f'{label}.db'}"
    migrations_util.upgrade(url)
    data = work / f"data-{label}"
    key = county_key(url, data)
    hub = stack.enter_context(Hub(url, data, work / f"hub-{label}.log"))
    return hub, key


@dataclass
class Run:
    wall: float  # seconds, start to the answer (the agent: to the file moved to sent/)
    client_cpu: float  # CPU seconds of curl or of the agent process
    hub_cpu: float  # CPU seconds of the hub's processes meanwhile


def timed(hub: Hub, command: list[str]) -> tuple[Run, subprocess.CompletedProcess[str]]:
    """Wall time, the child's CPU time (getrusage of waited children) and the hub's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    hub_before = hub.cpu_seconds()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=3_600, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, client, hub.cpu_seconds() - hub_before), done


def with_curl(hub: Hub, key: str, file: Path) -> Run:
    command = [
        "curl", "-sS", "--fail-with-body", "-o", "/dev/null", "-X", "POST",
        "-H", f"Authorization: Bearer {key}", "-H", f"Content-Type: {media_type_of(file)}",
        "-H", f"Idempotency-Key: curl-{uuid.uuid4()}", "--data-binary", f"@{file}",
        hub.url + "/api/v1/records/batch",
    ]  # fmt: skip
    run, done = timed(hub, command)
    if done.returncode != 0:
        raise RuntimeError(f"curl failed ({done.returncode}): {done.stdout}{done.stderr}")
    return run


def with_agent(hub: Hub, key: str, file: Path, work: Path, label: str) -> Run:
    folder = work / f"agent-{label}"
    (folder / "outbox").mkdir(parents=True)
    (folder / "api-key").write_text(key)
    (folder / "agent.toml").write_text(
        f'hub_url = "{hub.url}"\napi_key_file = "api-key"\ncounty = "440305"\n'
        'folder = "."\ndeadline_seconds = 3600\ntimeout_seconds = 3600\n'
    )
    shutil.copy(file, folder / "outbox" / file.name)
    command = [str(BIN / "exchange-hub-agent"), "push", "--config", str(folder / "agent.toml")]
    run, done = timed(hub, command)
    if done.returncode != 0 or not (folder / "outbox" / "sent" / file.name).exists():
        raise RuntimeError(f"agent push failed ({done.returncode}): {done.stdout}{done.stderr}")
    return run


def measure(args: argparse.Namespace, work: Path, files: dict[str, Path]) -> int:
    admin = admin_url(args)
    print(f"database: {'PostgreSQL' if admin else 'SQLite'}; {args.n} records a file")
    summary = []
    for fmt, file in files.items():
        runs: dict[str, list[Run]] = {"curl": [], "agent": []}
        for repeat in range(args.repeat):
            for how in ("curl", "agent") if repeat % 2 == 0 else ("agent", "curl"):
                label = f"{fmt}-{how}-{repeat}"
                with ExitStack() as stack:
                    hub, key = fresh_hub(stack, admin, work, label)
                    run = (with_curl(hub, key, file) if how == "curl"
                           else with_agent(hub, key, file, work, label))  # fmt: skip
                runs[how].append(run)
                print(f"{fmt:4} {how:5} run {repeat + 1}: {run.wall:7.2f} s "
                      f"{args.n / run.wall:8.0f} records/s; CPU {how} {run.client_cpu:5.2f} s, "
                      f"hub {run.hub_cpu:6.2f} s", flush=True)  # fmt: skip
        summary.append((fmt, _compare(fmt, args.n, runs)))
    print("ratio agent/curl " + "; ".join(
        f"{fmt}: wall {wall:.3f}, CPU {cpu:.3f}" for fmt, (wall, cpu) in summary
    ) + " (target < 1.10)")  # fmt: skip
    return 0


def _compare(fmt: str, n: int, runs: dict[str, list[Run]]) -> tuple[float, float]:
    """Best wall times (the least disturbed run of each), and CPU: client plus hub, the
    agent's against curl's (on a shared machine the steadier measure of what the agent adds)."""
    curl = min(runs["curl"], key=lambda r: r.wall)
    agent = min(runs["agent"], key=lambda r: r.wall)
    curl_cpu = min(r.client_cpu + r.hub_cpu for r in runs["curl"])
    agent_cpu = min(r.client_cpu + r.hub_cpu for r in runs["agent"])
    print(f"{fmt:4} best: curl {n / curl.wall:.0f} records/s, agent {n / agent.wall:.0f} "
          f"records/s; wall agent/curl {agent.wall / curl.wall:.3f}; CPU (client + hub) "
          f"agent/curl {agent_cpu / curl_cpu:.3f}")  # fmt: skip
    return agent.wall / curl.wall, agent_cpu / curl_cpu


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--repeat", type=int, default=2)
    add_admin_url_argument(parser, "postgresql://postgres@127.0.0.1/postgres")
    add_smoke_argument(parser)
    args = parser.parse_args()
    if args.smoke:
        args.n, args.repeat = 300, 1
    return args


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    announce(args)
    with scratch_folder("agent") as work:
        print(f"generating {args.n} records …", flush=True)
        rows = generate(args.n, 0.0)
        writers = {"csv": write_csv, "xlsx": write_xlsx}
        files = {}
        for fmt in args.formats.split(","):
            files[fmt] = work / f"register.{fmt}"
            writers[fmt](rows, files[fmt])
            print(f"{files[fmt].name}: {files[fmt].stat().st_size / 1e6:.1f} MB")
        return measure(args, work, files)


if __name__ == "__main__":
    sys.exit(main())

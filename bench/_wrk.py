"""``wrk`` (Debian's wrk 4.1), a load tool in C: the bare endpoint's ceiling that Python
clients on the same two cores cannot reach (they cap it near 1,500 req/s), and the
hub's POST without the clients' own cost.

Bodies come from ``bench/wrk_post.lua`` (a JSON template, ``{n}`` made unique per
request). Where wrk is not installed ``run_wrk`` returns None and the bench prints
that it skipped the line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._support import ROOT

SCRIPT = ROOT / "bench" / "wrk_post.lua"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_DONE = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class WrkOptions:
    threads: int
    connections: int
    seconds: float
    timeout_seconds: float = 10.0


def wrk_binary() -> str | None:
    return shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)


def run_wrk(
    url: str, body: dict[str, Any], options: WrkOptions, *, authorization: str | None = None
) -> dict[str, Any] | None:
    """POST ``body`` (``{n}`` in its strings made unique) to ``url`` for ``options.seconds``;
    requests/s, p50/p99 (ms), requests done and errors; None without wrk."""
    binary = wrk_binary()
    if binary is None:
        return None
    command = [
        binary, f"-t{options.threads}", f"-c{max(options.connections, options.threads)}",
        f"-d{max(1, round(options.seconds))}s", f"--timeout={options.timeout_seconds:g}s",
        "--latency", "-s", str(SCRIPT), url,
    ]  # fmt: skip
    env = {**os.environ, "WRK_BODY": json.dumps(body), "WRK_AUTHORIZATION": authorization or ""}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=options.seconds + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> dict[str, Any]:
    rate = _RATE.search(output)
    requests = _DONE.search(output)
    if rate is None or requests is None:
        raise RuntimeError(f"wrk said nothing this bench understands:\n{output}")
    latency = {p: float(v) * _UNITS[u] for p, v, u in _LATENCY.findall(output)}
    non_2xx = _NON_2XX.search(output)
    socket_errors = _SOCKET.search(output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return {
        "per_s": float(rate.group(1)),
        "n": int(requests.group(1)),
        "p50_ms": latency.get("50", float("nan")),
        "p99_ms": latency.get("99", float("nan")),
        "errors": errors,
    }

"""What ``bench/nation.py`` prints: per step what was offered and sustained, latency
percentiles, errors by status, CPU of the hub and of PostgreSQL, database growth."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench._nation_plan import Window
from bench._nation_profile import Profile
from bench._nation_run import Outcome

MESSAGE_STEPS = ("query", "feedback")
STEPS = ("batch", "query", "inbox", "feedback", "lookup", "changes", "export")


@dataclass
class PhaseResult:
    outcome: Outcome
    seconds: float  # real seconds, start to last answer
    cpu: dict[str, float]  # seconds per process group
    grown: int  # database bytes


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def _hhmm(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}"


def print_preload(preload: PhaseResult) -> None:
    o = preload.outcome
    rate = o.records / preload.seconds if preload.seconds else 0.0
    per_1000 = preload.grown / o.records * 1000 if o.records else float("nan")
    print(f"\n[preload: every county pushes its stock through the batch endpoint]  "
          f"errors: {sum(o.errors.values())}")  # fmt: skip
    print(
        f"  {o.records:,} records in {len(o.latency['batch'])} batches, "
        f"{preload.seconds:.1f} s: {rate:,.0f} records/s; batch p50 "
        f"{pct(o.latency['batch'], 50):.0f} ms, p99 {pct(o.latency['batch'], 99):.0f} ms"
    )
    print(
        f"  database +{preload.grown / 2**20:,.1f} MiB: {per_1000 / 1024:,.1f} KiB per 1,000 "
        f"records (tables and indexes, with the messages the inflows opened)"
    )
    print("  CPU " + ", ".join(f"{k} {v:.1f} s ({v / max(o.records, 1) * 1e6:,.0f} µs/record)"
                              for k, v in preload.cpu.items()))  # fmt: skip


def print_phase(args: argparse.Namespace, profile: Profile, played: Window,
                result: PhaseResult, preload: PhaseResult) -> dict[str, Any]:  # fmt: skip
    o, scale = result.outcome, profile.clock.scale
    wall = played.seconds / scale
    offered = Counter(e.step for e in played.events)
    print(f"\n[window: profile {profile.name}, {profile.counties} counties, simulated "
          f"{_hhmm(played.start)}–{_hhmm(played.start + played.seconds)} Beijing time at "
          f"{scale:g}× ({wall:.0f} real s); {args.workers} hub workers"
          f"{', through PgBouncer' if args.pooler else ''}; backlog {len(played.backlog)} "
          "queries posted before]")  # fmt: skip
    print("  step      planned  offered/s   done  sustained/s   p50 ms   p95 ms   p99 ms")
    steps: dict[str, Any] = {}
    for step in STEPS:
        done = o.latency.get(step, [])
        if not done and not offered[step]:
            continue
        s = steps[step] = {
            "planned": offered[step], "offered_per_s": offered[step] / wall, "done": len(done),
            "sustained_per_s": len(done) / result.seconds, "p50_ms": pct(done, 50),
            "p95_ms": pct(done, 95), "p99_ms": pct(done, 99),
        }  # fmt: skip
        print(f"  {step:9s} {s['planned']:7d} {s['offered_per_s']:10.2f} {s['done']:6d} "
              f"{s['sustained_per_s']:12.2f} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} "
              f"{s['p99_ms']:8.1f}")  # fmt: skip
    planned = len(played.events)
    requests = sum(len(v) for v in o.latency.values())
    messages_offered = sum(offered[s] for s in MESSAGE_STEPS) / wall
    messages_done = sum(len(o.latency.get(s, [])) for s in MESSAGE_STEPS) / result.seconds
    ratio = (o.done / result.seconds) / (planned / wall) if planned else float("nan")
    print(f"ratio sustained/offered (planned events): {ratio:.3f}; messages (queries + "
          f"answers) offered {messages_offered:.2f}/s, sustained {messages_done:.2f}/s; "
          f"{requests:,} requests (with inbox pulls) in {result.seconds:.1f} s")  # fmt: skip
    lag = sorted(o.lag)
    print(f"  start lag behind the plan: p50 {pct(lag, 50):.0f} ms, p99 {pct(lag, 99):.0f} ms")
    errors = sum(o.errors.values())
    print(f"errors by step and status: {dict(o.errors) or 'none'}")
    for line in o.first_errors:
        print(f"  {line}")
    cpu = {k: {"seconds": v, "us_per_request": v / max(requests, 1) * 1e6}
           for k, v in result.cpu.items()}  # fmt: skip
    print("CPU " + ", ".join(f"{k} {c['seconds']:.1f} s ({c['us_per_request']:,.0f} µs per "
                             "request)" for k, c in cpu.items()))  # fmt: skip
    print(f"database +{result.grown / 2**20:.1f} MiB in the window; {os.cpu_count()} CPUs, "
          f"load average at the end {os.getloadavg()[0]:.1f}")  # fmt: skip
    p = preload.outcome
    return {
        "profile": profile.name, "counties": profile.counties, "scale": scale,
        "window_s": wall, "elapsed_s": result.seconds, "steps": steps, "ratio": ratio,
        "messages_offered_per_s": messages_offered, "messages_sustained_per_s": messages_done,
        "requests": requests, "errors": errors + sum(p.errors.values()),
        "errors_by_status": dict(o.errors) | {f"preload {k}": v for k, v in p.errors.items()},
        "cpu": cpu, "window_db_bytes": result.grown,
        "preload": {"records": p.records, "seconds": preload.seconds, "db_bytes": preload.grown,
                    "bytes_per_1000_records": preload.grown / max(p.records, 1) * 1000,
                    "cpu_s": preload.cpu},
    }  # fmt: skip

"""Python clients for the round-trip bench: keep-alive ``httpx`` clients in threads,
spread over a few processes, posting queries or playing the whole cycle.

``run_load`` runs one phase on a process pool started once per run and merges
what each client measured; ``summarise`` turns it into rates and p50/p99 per step.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from multiprocessing.pool import Pool
from typing import Any, NamedTuple

import httpx

from bench._statements import query_json

Samples = dict[str, list[Any]]  # step -> seconds per request; "errors" -> what went wrong


Samples = dict[str, list[Any]]  # step -> seconds per request; "errors" -> what went wrong


class Load(NamedTuple):
    """One process's share of a phase: its clients and how long they run."""

    mode: str  # "post" | "cycle"
    url: str
    keys: list[dict[str, str]]
    seconds: float
    min_rounds: int  # rounds each client completes however long they take (smoke)
    timeout: float  # seconds per request


def _client_loop(load: Load, keys: dict[str, str], stop_at: float, out: Samples) -> None:
    sender = httpx.Client(
        base_url=load.url,
        headers={"Authorization": f"Bearer {keys.get('sender', 'x')}"},
        timeout=load.timeout,
    )
    origin = httpx.Client(
        base_url=load.url,
        headers={"Authorization": f"Bearer {keys.get('origin', 'x')}"},
        timeout=load.timeout,
    )
    seq = 0
    region = keys.get("origin_region", "110105")
    try:
        while seq < load.min_rounds or time.perf_counter() < stop_at:
            seq += 1
            if not _timed(
                out,
                "post",
                lambda n=seq: sender.post("/api/v1/messages", json=query_json(region, n)),
                201,
            ):
                continue
            if load.mode == "cycle":
                _answer_inbox(origin, out)
    finally:
        sender.close()
        origin.close()


def _answer_inbox(origin: httpx.Client, out: Samples) -> None:
    """The origin county pulls what was sent to it and answers each item: a cycle each."""
    pulled = _timed(out, "pull", lambda: origin.get("/api/v1/inbox?state=submitted&limit=20"), 200)
    for item in pulled.json()["items"] if pulled else []:
        path = f"/api/v1/messages/{item['id']}/feedback"
        if _timed(out, "feedback", lambda p=path: origin.post(p, json={"result": "found"}), 200):
            out["cycles"].append(0.0)


def _timed(out: Samples, step: str, call: Any, expected: int) -> Any:
    started = time.perf_counter()
    try:
        response = call()
    except httpx.HTTPError as exc:
        out["errors"].append(f"{step}: {exc!r}")
        return None
    out[step].append(time.perf_counter() - started)
    if response.status_code != expected:
        out["errors"].append(f"{step}: {response.status_code} {response.text[:300]}")
        return None
    return response


def _process(load: Load) -> Samples:
    out: Samples = defaultdict(list)
    stop_at = time.perf_counter() + load.seconds
    threads = [
        threading.Thread(target=_client_loop, args=(load, keys, stop_at, out)) for keys in load.keys
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(out)


def run_load(
    args: argparse.Namespace, pool: Pool, mode: str, url: str, keys: list[dict[str, str]],
    seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """Clients spread over the ``--procs`` processes of ``pool`` (started once per run)."""
    procs = args.procs
    loads = [Load(mode, url, keys[i::procs], seconds, args.min_rounds, args.timeout)
             for i in range(procs)]  # fmt: skip
    started = time.perf_counter()
    parts = pool.map(_process, [load for load in loads if load.keys])
    elapsed = time.perf_counter() - started
    merged: Samples = defaultdict(list)
    for part in parts:
        for step, values in part.items():
            merged[step].extend(values)
    return {"elapsed": min(elapsed, seconds + 1.0), "seconds": seconds, "samples": merged}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def summarise(name: str, result: dict[str, Any]) -> dict[str, Any]:
    samples, seconds = result["samples"], result["seconds"]
    steps = {
        step: {"n": len(v), "per_s": len(v) / seconds, "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)}
        for step, v in samples.items()
        if step in ("post", "pull", "feedback")
    }
    return {
        "phase": name,
        "steps": steps,
        "cycles": len(samples.get("cycles", [])),
        "cycles_per_s": len(samples.get("cycles", [])) / seconds,
        "errors": len(samples.get("errors", [])),
        "first_error": next(iter(samples.get("errors", [])), None),
    }


def print_phase(summary: dict[str, Any]) -> None:
    print(f"\n[{summary['phase']}]  errors: {summary['errors']}")
    if summary["first_error"]:
        print(f"  first error: {summary['first_error']}")
    if summary["cycles_per_s"]:
        print(f"  cycles/s: {summary['cycles_per_s']:.1f}")
    for step, s in summary["steps"].items():
        rate, p50, p99 = s["per_s"], s["p50_ms"], s["p99_ms"]
        print(f"  {step:9s} {rate:8.1f}/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   (n={s['n']})")

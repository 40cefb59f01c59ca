"""What ``bench/roundtrip.py`` prints: statements, wrk lines, ratios, CPU per message,
and which phases' figures cannot stand."""

from __future__ import annotations

import argparse
from typing import Any


def print_statements(counts: dict[str, dict[str, int]]) -> None:
    print("\n[SQL statements per request, counted on the hub's engine]")
    print("  step       sql  server  transactions  pool checkouts")
    for step, c in counts.items():
        print(f"  {step:9s} {c['sql']:4d} {c['server']:7d} {c['transactions']:13d}"
              f" {c['checkouts']:15d}")  # fmt: skip
    post, cycle = counts["post"]["sql"], counts["cycle"]["sql"]
    print(f"  aim of issue 18: a message in ≤ 6 ({'met' if post <= 6 else 'MISSED'}: {post}), "
          f"a cycle in ≤ 15 ({'met' if cycle <= 15 else 'MISSED'}: {cycle}); "
          "transactions: BEGIN + COMMIT/ROLLBACK of the key look-up and of the work; "
          "each reused pool checkout is also a pre-ping SELECT 1")  # fmt: skip


def print_wrk(label: str, figures: dict[str, Any] | None) -> None:
    if figures is None:
        print(f"\n[{label}, wrk]  skipped: wrk is not installed (Debian package wrk)")
        return
    print(f"\n[{label}, wrk]  errors: {figures['errors']}")
    print(f"  post      {figures['per_s']:8.1f}/s   p50 {figures['p50_ms']:6.1f} ms   "
          f"p99 {figures['p99_ms']:6.1f} ms   (n={figures['n']})")  # fmt: skip


def _rate(summary: dict[str, Any] | None, step: str = "post") -> float:
    if summary is None:
        return float("nan")
    if step == "cycles":
        return float(summary["cycles_per_s"])
    if "steps" not in summary:
        return float(summary["per_s"])  # wrk
    return float(summary["steps"].get(step, {}).get("per_s", 0.0))


def _mean(*rates: float) -> float:
    return sum(rates) / len(rates)


def report_workers(
    args: argparse.Namespace, bare: dict[str, Any], hubs: list[dict[str, Any]]
) -> None:
    workers = hubs[0]["workers"]
    wrk_bare = _mean(*(_rate(bare[w]["wrk"]) for w in ("before", "after")))
    py_bare = _mean(*(_rate(bare[w]["python"]) for w in ("before", "after")))
    print(f"\n== {workers} uvicorn workers: bare endpoint (mean of before and after the hub) "
          f"wrk {wrk_bare:,.1f}/s, Python clients {py_bare:,.1f}/s")  # fmt: skip
    baseline, against = (wrk_bare, "wrk") if wrk_bare == wrk_bare else (py_bare, "Python "
                         "clients, as wrk is not installed: flattering")  # fmt: skip
    for hub in hubs:
        post, cycle = hub["post"], hub["cycle"]
        p99 = post["steps"].get("post", {}).get("p99_ms", float("nan"))
        ratio = _rate(post) / baseline
        verdict = "meets" if ratio >= 0.05 and p99 <= 100 else "MISSES"
        if args.smoke:
            verdict = "smoke mode, says nothing about"
        print(f"ratio hub POST /messages ÷ bare endpoint ({against}), {workers} workers, "
              f"{hub['route']}: {ratio:.3f}  (hub p99 {p99:.1f} ms) — {verdict} the target "
              "ratio ≥ 0.05 with p99 ≤ 100 ms")  # fmt: skip
        print(f"  hub POST by wrk {_rate(hub['post_wrk']):,.1f}/s ÷ bare by wrk: "
              f"{_rate(hub['post_wrk']) / wrk_bare:.3f}; "
              f"cycles {_rate(cycle, 'cycles'):,.1f}/s ÷ bare by wrk: "
              f"{_rate(cycle, 'cycles') / wrk_bare:.4f}")  # fmt: skip
        print(
            f"  Python-client bare (labelled, flattering): hub POST ÷ it "
            f"{_rate(post) / py_bare:.3f}, cycles ÷ it {_rate(cycle, 'cycles') / py_bare:.4f}"
        )
        print(
            "  CPU " + "; ".join(_cpu_line(hub, phase) for phase in ("post", "post_wrk", "cycle"))
        )


def _cpu_line(hub: dict[str, Any], phase: str) -> str:
    done = hub[phase]
    if done is None:
        return f"{phase}: skipped (no wrk)"
    if phase == "cycle":
        n, unit = done["cycles"], "cycle"
    else:
        n, unit = done["n"] if phase == "post_wrk" else done["steps"]["post"]["n"], "message"
    spent = hub[f"{phase}_cpu_s"]
    parts = ", ".join(
        f"{name} {seconds / max(n, 1) * 1e6:,.0f} µs" for name, seconds in spent.items()
    )
    return f"{phase} per {unit}: {parts}"


def failures(smoke: bool, bare: list[dict[str, Any]], hubs: list[dict[str, Any]]) -> list[str]:
    """Phases whose figures cannot stand: no request succeeded, or (smoke) any was refused."""
    found = []
    summaries = [b["python"] for b in bare] + [h[p] for h in hubs for p in ("post", "cycle")]
    for summary in summaries:
        post = summary["steps"].get("post", {"n": 0})
        if post["n"] == 0 or (smoke and summary["errors"]):
            found.append(f"{summary['phase']}: {post['n']} posts, {summary['errors']} errors "
                         f"(first: {summary['first_error']})")  # fmt: skip
        if "cycle" in summary["phase"] and not summary["cycles"]:
            found.append(f"{summary['phase']}: no cycle completed")
    for name, figures in [("bare", b["wrk"]) for b in bare] + [
        ("hub", h["post_wrk"]) for h in hubs
    ]:
        if figures is not None and (figures["n"] == 0 or (smoke and figures["errors"])):
            found.append(f"{name} by wrk: {figures['n']} requests, {figures['errors']} errors")
    return found

"""Log-linear latency histograms: mergeable, so percentiles roll up without averaging.

Bucket layout (the HDR-histogram idea, in integer arithmetic so SQL, SQLite
and Python agree bit for bit):

- latencies below 64 s get one bucket per second (exact);
- from 64 s on, each power-of-two octave ``[2^e, 2^(e+1))`` is cut into 32
  equal buckets.

A bucket is reported by its midpoint, so a percentile read from the
histogram is within **1/64 ≈ 1.6 %** of the true (whole-second) value, and
latencies are floored to whole seconds first (at most 1 s more). Counts add,
so a province's histogram is the sum of its counties'.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

EXACT_BELOW = 64
SUB_BUCKETS = 32
_FIRST_OCTAVE = 6  # 2**6 == EXACT_BELOW
MAX_OCTAVE = 40  # 2**41 s is ~70,000 years: nothing real lies beyond
RELATIVE_ERROR = 1 / 64


def bucket_of(seconds: int) -> int:
    """The bucket index of a latency in whole seconds (negative clock skew counts as 0)."""
    if seconds < EXACT_BELOW:
        return max(seconds, 0)
    octave = min(seconds.bit_length() - 1, MAX_OCTAVE)
    step = 1 << (octave - 5)
    return EXACT_BELOW + (octave - _FIRST_OCTAVE) * SUB_BUCKETS + seconds // step - SUB_BUCKETS


def bucket_bounds(index: int) -> tuple[int, int]:
    """The smallest and largest latency (seconds) that fall into bucket ``index``."""
    if index < EXACT_BELOW:
        return index, index
    octave = _FIRST_OCTAVE + (index - EXACT_BELOW) // SUB_BUCKETS
    mantissa = SUB_BUCKETS + (index - EXACT_BELOW) % SUB_BUCKETS
    step = 1 << (octave - 5)
    return mantissa * step, (mantissa + 1) * step - 1


def bucket_value(index: int) -> float:
    """The representative latency of a bucket: its midpoint."""
    low, high = bucket_bounds(index)
    return (low + high) / 2


def bucket_ladder() -> list[tuple[int, int, int]]:
    """``(upper_exclusive, step, offset)`` per octave, for building the SQL CASE."""
    ladder = []
    for octave in range(_FIRST_OCTAVE, MAX_OCTAVE + 1):
        step = 1 << (octave - 5)
        offset = EXACT_BELOW + (octave - _FIRST_OCTAVE) * SUB_BUCKETS - SUB_BUCKETS
        ladder.append((1 << (octave + 1), step, offset))
    return ladder


def merge(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for index, count in histogram.items():
            merged[int(index)] = merged.get(int(index), 0) + count
    return merged


def percentile(histogram: Mapping[int, int], fraction: float) -> float | None:
    """Nearest-rank percentile (like PostgreSQL's ``percentile_disc``); None when empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_value(index)
    return bucket_value(max(histogram))

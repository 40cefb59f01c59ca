"""Loaded by every Python process of a CI run under libfaketime (PYTHONPATH=.ci/faketime).

libfaketime 0.9.10 (Debian 12) cannot fake the monotonic clock without breaking
condition-variable waits (threading.Event.wait, queue.get with a timeout wait
for the fake offset: days), and with the monotonic clock left alone
(FAKETIME_DONT_FAKE_MONOTONIC=1) it turns Python's time.sleep — an absolute
clock_nanosleep on CLOCK_MONOTONIC — into EINVAL. A relative select() sleeps
the same time and is not intercepted. Only the wall clock is faked; nothing
in the hub measures durations with the wall clock. ``.ci/run`` also sets
FAKETIME_FORCE_MONOTONIC_FIX=0: with that fix on, every timed wait on a
monotonic condition variable (CPython's GIL handover among them) returns at
once, and threads spin for the GIL.
"""

import os
import select
import time

if "faketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get("FAKETIME"):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)

    time.sleep = _sleep

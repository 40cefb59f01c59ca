"""Named points where a test may have the agent die at once (SIGKILL, no clean-up).

The crash tests run the agent in a subprocess that sets ``CRASH_AT`` before the
command runs (``tests/agent/crashing_agent.py``); in normal use it stays None
and ``checkpoint`` does nothing.
"""

from __future__ import annotations

import os
import signal

CRASH_AT: str | None = None


def checkpoint(name: str) -> None:
    if name == CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)

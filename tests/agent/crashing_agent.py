"""``exchange-hub-agent`` that SIGKILLs itself at a named point: ``crashing_agent.py POINT ARGS``
(an empty POINT runs it normally). See ``exchange_hub/agent/faults.py``."""

from __future__ import annotations

import sys

from exchange_hub.agent import faults
from exchange_hub.agent.cli import app

if __name__ == "__main__":
    faults.CRASH_AT = sys.argv[1] or None
    app(sys.argv[2:], prog_name="exchange-hub-agent")

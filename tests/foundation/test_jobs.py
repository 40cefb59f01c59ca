"""One explicit list of every job (issue 16): nothing registers itself by being imported."""

from __future__ import annotations

import importlib
import subprocess
import sys

from typer.testing import CliRunner

from exchange_hub.cli import app
from exchange_hub.jobs import JOBS

EXPECTED = {
    "exchange.deliver_pushes",
    "exchange.purge_seen_signatures",
    "exchange.purge_bodies",
    "metrics.refresh",
    "audit.flush_refusals",
    "audit.purge",
    "idempotency.expire_answers",
    "ratelimits.prune",
    "reencrypt.move_rows",
}


def test_every_job_is_listed_once_as_domain_verb() -> None:
    assert set(JOBS) == EXPECTED
    for name, job in JOBS.items():
        domain, _, verb = name.partition(".")
        module = job.__module__
        assert verb and (
            module == f"exchange_hub.{domain}" or module.startswith(f"exchange_hub.{domain}.")
        ), name
        assert importlib.import_module(f"exchange_hub.{domain}")


def test_the_list_does_not_depend_on_what_else_was_imported() -> None:
    """A fresh interpreter importing only ``exchange_hub.jobs`` sees every job."""
    code = "from exchange_hub.jobs import JOBS; print(' '.join(sorted(JOBS)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(out.stdout.split()) == EXPECTED


def test_jobs_list_names_every_job() -> None:
    result = CliRunner().invoke(app, ["jobs", "list"])
    assert result.exit_code == 0, result.output
    listed = {word.rstrip(":") for word in result.output.split() if word.endswith(":")}
    assert listed >= EXPECTED

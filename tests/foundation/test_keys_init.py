"""``exchange-hub keys init`` on several nodes: the first ring stays, the others say so.

Every node of a cluster may run ``keys init`` at its first start; a ring already in
place (another node's, a moment ago) is never replaced, and finding one is not an
error: the command says it left it and exits 0.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from exchange_hub import crypto
from exchange_hub.cli import app
from exchange_hub.config import Settings
from tests.fixtures.together import run_together

runner = CliRunner()


def test_init_writes_a_ring_once_then_leaves_it(tmp_path: Path) -> None:
    out = tmp_path / "keys.json"
    first = runner.invoke(app, ["keys", "init", "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "key ring written" in first.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    written = out.read_bytes()
    again = runner.invoke(app, ["keys", "init", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "already holds a key ring" in again.output and "nothing was changed" in again.output
    assert out.read_bytes() == written


def test_init_never_touches_a_file_that_is_not_a_ring(tmp_path: Path) -> None:
    out = tmp_path / "keys.json"
    out.write_text('{"not": "a ring"}')
    result = runner.invoke(app, ["keys", "init", "--out", str(out)])
    assert result.exit_code == 1
    assert "is not a key ring" in result.output
    assert out.read_text() == '{"not": "a ring"}'


def _init(out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["keys", "init", "--out", str(out)])
    return result.exit_code, result.output


def test_nodes_initialising_together_keep_the_first_ring(tmp_path: Path) -> None:
    out = tmp_path / "keys.json"
    results = run_together(lambda: _init(out), processes=6)
    assert all(code == 0 for code, _ in results), results
    written = [output for _, output in results if "key ring written" in output]
    assert len(written) == 1, results  # one node made it; the others found it in place
    crypto.ring_from_document(json.loads(out.read_text()), Settings().crypto_profile)
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]

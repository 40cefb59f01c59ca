"""Several processes creating the development key ring at once agree on one ring.

API nodes and workers started together on a fresh data directory each call
``load_key_ring(create=True)``; before, each could write its own ring and keep
the keys it generated, so one node could not read what another encrypted.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from exchange_hub import crypto
from tests.fixtures.together import run_together


def _load(path: Path) -> tuple[str, str, str]:
    ring = crypto.load_key_ring(path, create=True)
    return ring.current_data_key, ring.signing_key[0], ring.audit_key[0]


def test_processes_starting_together_share_one_ring(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    seen = set(run_together(lambda: _load(path), processes=8))
    assert len(seen) == 1, seen  # every process holds the keys of the one file in place
    document = json.loads(path.read_text())
    assert seen == {(document["current_data_key"], document["signing_key"]["kid"],
                     document["audit_key"]["kid"])}  # fmt: skip
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temporary file left


def test_a_ring_in_place_is_never_replaced_by_creation(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = crypto.load_key_ring(path, create=True)
    crypto.write_ring_document(path, crypto.new_ring_document(), replace=False)
    again = crypto.load_key_ring(path, create=True)
    assert again.current_data_key == first.current_data_key

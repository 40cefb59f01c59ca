"""Several processes creating the development key ring at once agree on one ring.

API nodes and workers started together on a fresh data directory each call
``load_key_ring(create=True)``; before, each could write its own ring and keep
the keys it generated, so one node could not read what another encrypted.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

from exchange_hub import crypto


def _load(path: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    start.wait()
    ring = crypto.load_key_ring(Path(path), create=True)
    out.put((ring.current_data_key, ring.signing_key[0], ring.audit_key[0]))


def test_processes_starting_together_share_one_ring(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    context = multiprocessing.get_context("fork")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_load, args=(str(path), start, out)) for _ in range(8)]
    for worker in workers:
        worker.start()
    start.set()
    seen = {out.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(timeout=60)
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

"""The batch path's crypto shortcuts keep the formats (read-ahead nonces, keyed HMAC copies)."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from exchange_hub import crypto


@pytest.fixture
def ring() -> crypto.KeyRing:
    return crypto.ring_from_document(crypto.new_ring_document())


@pytest.mark.parametrize(
    "value", ["", "110105198503140022", "name:王秀英", "content:" + "x" * 5000]
)
def test_blind_index_is_hmac_sha256_of_the_value(ring: crypto.KeyRing, value: str) -> None:
    kid = ring.current_index_key
    expected = hmac.new(ring.index_keys[kid], value.encode(), hashlib.sha256).hexdigest()
    assert ring.blind_index(value) == f"HS256.{kid}.{expected}"
    assert ring.blind_index(value) == ring.blind_index(value)  # the keyed state is not consumed


def test_nonces_do_not_repeat_across_refills(ring: crypto.KeyRing) -> None:
    tokens = [ring.encrypt("张三", "records.name") for _ in range(12_000)]  # > two 64 KiB refills
    nonces = {crypto._b64d(t.split(".")[2])[:12] for t in tokens}
    assert len(nonces) == len(tokens)
    assert {ring.decrypt(t, "records.name") for t in tokens[-3:]} == {"张三"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads_fresh_random_bytes() -> None:
    crypto.random_bytes(12)  # the parent's buffer is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, crypto.random_bytes(32))
        os._exit(0)
    os.waitpid(pid, 0)
    from_child = os.read(read, 32)
    assert from_child != crypto.random_bytes(32)

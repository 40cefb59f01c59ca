"""``exchange-hub-agent keygen``: a private key file only the county's user reads, and the
public key printed as the hub registers it (Ed25519 by default, SM2 with ``--sm2``)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange_hub.agent.cli import app
from exchange_hub.client import Ed25519Signer, SM2Signer, load_signer

KINDS = [([], Ed25519Signer, 43), (["--sm2"], SM2Signer, 130)]


@pytest.mark.parametrize(("flags", "kind", "public_length"), KINDS)
def test_keygen_writes_a_key_the_agent_loads(
    tmp_path: Path, flags: list[str], kind: type, public_length: int
) -> None:
    key = tmp_path / "keys" / "signing.key"
    result = CliRunner().invoke(app, ["keygen", "--out", str(key), *flags])
    assert result.exit_code == 0, result.output
    signer = load_signer(key)
    assert isinstance(signer, kind)
    assert result.output.strip() == signer.public_text()
    assert len(signer.public_text()) == public_length
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = CliRunner().invoke(app, ["keygen", "--out", str(key), *flags])
    assert again.exit_code != 0 and "不会覆盖" in again.output  # never overwrites a key
    assert load_signer(key).public_text() == signer.public_text()

"""The two profiles in one key ring: each writes its algorithms, both read everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange_hub import crypto


@pytest.fixture
def document() -> dict[str, object]:
    """A ring after ``keys rotate --profile national``: both profiles' keys."""
    return {**crypto.new_ring_document(), "national": crypto.new_national_section()}


def test_the_national_profile_writes_sm4_gcm_and_hmac_sm3(document: dict[str, object]) -> None:
    ring = crypto.ring_from_document(document, "national")
    token = ring.encrypt("欧阳娜娜", "records.name")
    (field_token,) = ring.encrypt_fields([("欧阳娜娜", "records.name")])
    for made in (token, field_token):
        assert made.startswith(f"SM4GCM.{ring.current_data_key}.")
    assert ring.blind_index("110105198503140022").startswith(f"HSM3.{ring.current_index_key}.")
    assert ring.chain_hash("genesis", b"x").startswith(f"HSM3.{ring.audit_key[0]}.")
    assert ring.sign(b"x")["alg"] == "SM2"
    assert ring.profile.name == "national"


def test_each_profile_reads_what_the_other_wrote(document: dict[str, object]) -> None:
    national = crypto.ring_from_document(document, "national")
    international = crypto.ring_from_document(document, "international")
    for writer, reader in ((national, international), (international, national)):
        token = writer.encrypt("广东省深圳市南山区", "records.address")
        assert reader.decrypt(token, "records.address") == "广东省深圳市南山区"
        signature = writer.sign(b"receipt")
        assert reader.verify_hub_signature(b"receipt", signature)
        assert writer.blind_index("x") in reader.all_blind_indexes("x")
        link = writer.chain_hash("genesis", b"row")
        kid = link.split(".")[1]
        assert reader.chain_hash("genesis", b"row", kid=kid) == link


def test_a_token_naming_another_algorithm_than_its_key_is_refused(
    document: dict[str, object],
) -> None:
    ring = crypto.ring_from_document(document, "national")
    token = ring.encrypt("甲", "records.name")
    _alg, kid, body = token.split(".", 2)
    with pytest.raises(crypto.CryptoError):
        ring.decrypt(f"A256GCM.{kid}.{body}", "records.name")
    with pytest.raises(crypto.CryptoError):
        ring.decrypt(token, "records.phone")  # the context is bound to the ciphertext


def test_a_signature_under_the_wrong_algorithm_or_key_does_not_verify(
    document: dict[str, object],
) -> None:
    ring = crypto.ring_from_document(document, "national")
    signature = ring.sign(b"receipt")
    assert not ring.verify_hub_signature(b"receipt!", signature)
    assert not ring.verify_hub_signature(b"receipt", {**signature, "alg": "Ed25519"})
    assert not ring.verify_hub_signature(b"receipt", {**signature, "kid": "s0000000"})


def test_the_national_profile_needs_national_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    crypto.write_ring_document(path, crypto.new_ring_document())
    with pytest.raises(crypto.CryptoError, match="keys rotate --profile national"):
        crypto.load_key_ring(path, create=False, profile="national")
    with pytest.raises(crypto.CryptoError, match="unknown crypto profile"):
        crypto.load_key_ring(path, create=False, profile="fips")


def test_a_new_ring_holds_only_its_profiles_keys(tmp_path: Path) -> None:
    national = crypto.new_ring_document("national")
    assert set(national) == {"national"}
    ring = crypto.ring_from_document(national, "national")
    assert len(ring.index_keys) == 1  # one index form per look-up
    with pytest.raises(crypto.CryptoError, match="rotate --profile international"):
        crypto.ring_from_document(national, "international")
    path = tmp_path / "keys.json"
    crypto.write_ring_document(path, national)
    kids = crypto.add_profile_keys(path, "international")
    both = crypto.load_key_ring(path, create=False, profile="international")
    assert both.current_data_key == kids["data"] and len(both.index_keys) == 2
    assert both.decrypt(ring.encrypt("甲", "records.name"), "records.name") == "甲"


def test_a_development_ring_gains_national_keys_and_keeps_its_own(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    before = crypto.load_key_ring(path, create=True)
    token = before.encrypt("甲", "records.name")
    after = crypto.load_key_ring(path, create=True, profile="national")
    assert after.decrypt(token, "records.name") == "甲"
    assert after.current_data_key != before.current_data_key
    again = crypto.load_key_ring(path, create=True, profile="national")
    assert again.current_data_key == after.current_data_key  # added once


def test_rotating_a_profile_adds_keys_and_keeps_the_old(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    crypto.write_ring_document(path, crypto.new_ring_document())
    first = crypto.add_profile_keys(path, "national")
    second = crypto.add_profile_keys(path, "national")
    assert first["data"] != second["data"] and first["signing"] == second["signing"]
    doc = json.loads(path.read_text())
    assert set(doc["national"]["data_keys"]) == {first["data"], second["data"]}
    ring = crypto.load_key_ring(path, create=False, profile="national")
    assert ring.current_data_key == second["data"]
    assert len(crypto._b64d(doc["national"]["data_keys"][second["data"]])) == 16
    international = crypto.add_profile_keys(path, "international")
    assert international["data"] in json.loads(path.read_text())["data_keys"]


def test_a_key_id_in_both_sections_is_refused(document: dict[str, object]) -> None:
    national = document["national"]
    assert isinstance(national, dict)
    clash = {**document, "national": {**national, "data_keys": document["data_keys"]}}
    with pytest.raises(crypto.CryptoError, match="twice"):
        crypto.ring_from_document(clash, "national")

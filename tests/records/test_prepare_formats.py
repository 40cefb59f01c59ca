"""A checked record's stored forms do not move when the code that makes them does.

An identical re-push is told by the content index and existing rows are
found by the ID index, so both must stay byte-identical for the same record
and key. The expected values below were made by ``values.prepare`` before
its batch fast path (commit d0747f3), with the key ring of ``test_crypto_formats``.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from exchange_hub import crypto
from exchange_hub.records import values
from exchange_hub.records.schemas import RecordIn
from exchange_hub.region_codes import bundled_catalogue, level_of
from exchange_hub.scope import Caller
from tests.records.test_crypto_formats import RING, TOKEN, decrypt_as_before

KNOWN = {e.code: (level_of(e.code), e.active) for e in bundled_catalogue()}

RECORDS: list[dict[str, Any]] = [
    {"kind": "outflow", "person": {
        "id_number": "110105198503140022", "name": " 欧阳 娜娜•Ab ", "sex": "F",
        "birth_date": "1985-03-14", "ethnicity": "01", "marital_status": "20",
        "phone": "13800138000", "address": "广东省深圳市南山区科技园 1 号", "children_count": 2,
        "contraception": "pill", "pregnancy_status": "pregnant", "last_birth_date": "2026-02-01"},
     "hukou_region": "440305", "residence_region": "11", "moved_on": "2026-03-01",
     "certificate": {"number": "GD00000001", "issued_by": "440305", "issued_on": "2025-01-01",
                     "valid_until": "2026-06-30"}},
    {"kind": "inflow", "person": {"id_number": "110105491231002", "name": "王秀英"}},
    {"kind": "inflow", "person": {"id_number": "11010519491231002x", "name": "李四", "phone": "",
                                  "address": None},
     "hukou_region": "110105", "moved_on": "2026-10-01", "certificate_checked": False,
     "certificate": {"number": ""}},
    {"kind": "inflow", "person": {"id_number": "110105194912310020", "name": "李四"},
     "hukou_region": "110105", "residence_region": "440305",
     "certificate": {"issued_by": "44", "valid_until": "2030-01-01"}},
]  # fmt: skip

# (content_index, id_indexes (old key, current key), name_index) of each record, as made before.
EXPECTED = [
    ("380925b53489fb105399d7d6ba3fabda1fcdee5674dea570b81231f4d28dbcfe",
     ("77c5034faf8f0dfba5d7062102e3e4448f33544640bd1071420eb23cf62be181",
      "9eb6af80cc9d507ef0de51a3646ad9ace503d6bab7bb5ea07930becc74139ffd"),
     "8ac2cc2472c5bd6c629f764347ac5771f7f3ae0df47eca1a797661817e22b19b"),
    ("7a0202352e52e2d6e9ab97c09e0732c41aa62a3c5a9b473b3b1ab9af07b640b3",
     ("fba5d66927d236aa8d8de7b922c058889c33902f03403824df09500d92f777f2",
      "d92b79baf01396364595d3b6ec4d127067c4589add13c6cb5cda0bd122aece7c"),
     "8e6c6b92b6618d8eba46316bc6a2d32ad890f938f4895e8241766964e6bf8b51"),
    ("f89186e08ae6d4ba3b2a9db2858832557312c76e1b1539c60ae68f0fbff48eb4",
     ("fba5d66927d236aa8d8de7b922c058889c33902f03403824df09500d92f777f2",
      "d92b79baf01396364595d3b6ec4d127067c4589add13c6cb5cda0bd122aece7c"),
     "fe242f4ce9fe2e03be5af88a2b8269c6240f5c88f6beadbded6505ac2593e000"),
    ("cd78ac303208d4c34161d0ca4d446e93073e74dc0d32f9169a029f178de4712a",
     ("edf46795d3b1dd698b5af1857346bbe787e9acbb074e3503d82e3d5d5ffe42f9",
      "d07109ad3ea86667b21e54ea37ac7797fc7b224d7388516ccd6448772a23e976"),
     "fe242f4ce9fe2e03be5af88a2b8269c6240f5c88f6beadbded6505ac2593e000"),
]  # fmt: skip


@pytest.fixture
def ring() -> crypto.KeyRing:
    return crypto.ring_from_document(RING)


def _context(ring: crypto.KeyRing) -> values.WriteContext:
    caller = Caller(member_id=None, name="t", role="county", region="440305")
    book = values.RegionBook.complete(KNOWN)
    return values.WriteContext(caller, ring, "lenient", date(2026, 11, 23), book)


def _prepared(ring: crypto.KeyRing, record: dict[str, Any]) -> values.Prepared:
    body = RecordIn.model_validate_json(json.dumps(record, ensure_ascii=False))
    return values.prepare(_context(ring), body)


@pytest.mark.parametrize(("record", "expected"), list(zip(RECORDS, EXPECTED, strict=True)))
def test_record_indexes_are_the_ones_made_before(
    ring: crypto.KeyRing, record: dict[str, Any], expected: tuple[str, tuple[str, str], str]
) -> None:
    content, (old_id, new_id), name = expected
    prepared = _prepared(ring, record)
    columns = prepared.columns
    assert columns["content_index"] == f"HS256.i0000new.{content}"
    assert columns["id_index"] == f"HS256.i0000new.{new_id}"
    assert columns["name_index"] == f"HS256.i0000new.{name}"
    assert prepared.id_indexes == [f"HS256.i0000old.{old_id}", f"HS256.i0000new.{new_id}"]


def test_columns_of_a_full_outflow_are_the_ones_made_before(ring: crypto.KeyRing) -> None:
    columns = _prepared(ring, RECORDS[0]).columns
    clear = {k: v for k, v in columns.items() if not k.endswith(("_enc", "_index"))}
    assert clear == {
        "kind": "outflow", "hukou_region": "440305", "residence_region": "110000",
        "registering_region": "440305", "other_region": None, "hukou_missing": False,
        "sex": "F", "birth_date": date(1985, 3, 14), "ethnicity": "01", "marital_status": "20",
        "children_count": 2, "contraception": "pill", "pregnancy_status": "pregnant",
        "last_birth_date": date(2026, 2, 1), "moved_on": date(2026, 3, 1),
        "certificate_checked": None, "certificate_number": "GD00000001",
        "certificate_issued_by": "440305", "certificate_issued_on": date(2025, 1, 1),
        "certificate_valid_until": date(2026, 6, 30), "data_key_id": "d0000new",
        "id_check_flagged": True, "id_converted": False, "key_object": True,
        "key_reasons": "pregnant,gave_birth_this_year,no_valid_certificate,"
                       "no_long_acting_contraception",
    }  # fmt: skip
    assert set(columns) == set(clear) | {
        "content_index", "id_index", "name_index",
        "id_number_enc", "name_enc", "phone_enc", "address_enc",
    }  # fmt: skip


def test_record_tokens_decrypt_with_the_code_before_and_after(ring: crypto.KeyRing) -> None:
    columns = _prepared(ring, RECORDS[0]).columns
    expected = {"id_number": "110105198503140022", "name": "欧阳 娜娜•Ab",  # stripped
                "phone": "13800138000", "address": "广东省深圳市南山区科技园 1 号"}  # fmt: skip
    for name, context in values.ENCRYPTED.items():
        token = columns[f"{name}_enc"]
        assert TOKEN.fullmatch(token)
        assert decrypt_as_before(token, context) == expected[name]
        assert ring.decrypt(token, context) == expected[name]


def test_region_book_membership() -> None:
    book = values.RegionBook.complete(KNOWN)
    assert "440305" in book and "110103" in book  # current, and abolished (崇文区)
    assert "000000" not in book and "990000" not in book and 440305 not in book
    assert book.is_current_county("440305") and not book.is_current_county("110103")
    assert book.whole() == KNOWN


def test_key_reasons_of_a_columns_dict() -> None:
    columns = {"pregnancy_status": "pregnant", "certificate_number": "GD1",
               "certificate_valid_until": date(2027, 1, 1), "contraception": "iud"}  # fmt: skip
    assert values.key_reasons(columns, date(2026, 11, 23)) == ["pregnant"]
    assert values.key_reasons({}, date(2026, 11, 23)) == ["no_valid_certificate"]

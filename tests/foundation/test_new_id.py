"""Row ids: time-ordered UUIDv7, so that primary keys grow at their right edge."""

from __future__ import annotations

import uuid

from exchange_hub.context import HubContext
from exchange_hub.models.base import new_id
from tests.fixtures.hub import make_member


def test_new_ids_are_uuid7_in_creation_order() -> None:
    ids = [new_id() for _ in range(1000)]
    assert all(type(i) is uuid.UUID for i in ids)  # the standard type, not uuid_utils.UUID
    assert {i.version for i in ids} == {7}
    assert ids == sorted(ids)


def test_orm_defaults_use_new_id(hub: HubContext) -> None:
    member = make_member(hub, role="county", region="440305")
    assert uuid.UUID(member.id).version == 7

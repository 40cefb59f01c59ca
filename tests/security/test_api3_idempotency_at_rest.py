"""OWASP API3:2023, finding 2 of issue 15: a write sent with an ``Idempotency-Key``
keeps its answer for replays, and that answer holds person data (a record's name,
ID number, phone and address). Every stored answer is a ciphertext bound to its
member and key; the request's fingerprint is a keyed hash (an unkeyed SHA-256 of a
body that differs only in an ID number is found by trying every ID number); answers
stored in clear before migration 0010 are dropped and their keys refuse replays."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Column, Engine, MetaData, Table, Uuid, insert, select, update

from exchange_hub import clock as hub_clock
from exchange_hub import idempotency, migrations_util
from exchange_hub.context import HubContext
from exchange_hub.db import make_engine
from exchange_hub.models.base import UTCDateTime
from tests.fixtures.hub import MemberKey
from tests.records.factories import id_number, outflow

NUMBER = id_number("110105", seq=7)
NAME = "欧阳秀英"
MIGRATION = "0010"


def _keys_table(engine: Engine) -> Table:
    """As the database has it, with the hub's column types where SQLite reflects others."""
    return Table(
        "idempotency_keys", MetaData(), Column("member_id", Uuid, primary_key=True),
        Column("created_at", UTCDateTime), autoload_with=engine,
    )  # fmt: skip


def _stored(hub: HubContext, key: str) -> dict:
    table = _keys_table(hub.engine)
    with hub.engine.connect() as connection:
        return dict(connection.execute(select(table).where(table.c.key == key)).mappings().one())


def _create(client: TestClient, member: MemberKey, key: str, **person: str) -> Response:
    body = outflow(NUMBER, name=NAME, person={"phone": "13812345678", **person})
    return client.post("/api/v1/records", json=body, headers={**member.headers,
                       "Idempotency-Key": key})  # fmt: skip


def test_the_stored_answer_is_a_ciphertext_bound_to_member_and_key(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    first = _create(client, county_a, "rec-1")
    assert first.status_code == 201, first.text
    row = _stored(hub, "rec-1")
    assert "response" not in row  # the plaintext column is gone
    token = row["response_enc"]
    profile = hub.keyring.profile  # HUB_CRYPTO_PROFILE: AES-GCM/HMAC-SHA256 or SM4-GCM/HMAC-SM3
    assert token.startswith(f"{profile.cipher}.") and NAME not in token and NUMBER not in token
    assert row["request_hash"].startswith(f"{profile.mac}.")
    member = uuid.UUID(county_a.id)
    clear = hub.keyring.decrypt(token, idempotency.response_context(member, "rec-1"))
    assert NAME in clear and NUMBER in clear
    with pytest.raises(Exception, match="does not decrypt"):
        hub.keyring.decrypt(token, idempotency.response_context(member, "rec-2"))
    again = _create(client, county_a, "rec-1")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"


def test_an_answer_moved_to_another_key_is_not_replayed(
    client: TestClient, hub: HubContext, county_a: MemberKey
) -> None:
    """A ciphertext copied onto another row does not decrypt there: 409, never the
    other request's answer."""
    _create(client, county_a, "rec-1")
    assert _create(client, county_a, "rec-2", address="幸福路1号").status_code == 201
    table = _keys_table(hub.engine)
    with hub.engine.begin() as connection:
        token = connection.scalar(select(table.c.response_enc).where(table.c.key == "rec-1"))
        connection.execute(update(table).where(table.c.key == "rec-2").values(response_enc=token))
    replay = _create(client, county_a, "rec-2", address="幸福路1号")
    assert replay.status_code == 409, replay.text
    assert replay.json()["field"] == "Idempotency-Key"


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(migrations_util.alembic_config("sqlite://"))
    down = script.get_revision(MIGRATION).down_revision
    assert isinstance(down, str)
    return down


def test_the_migration_drops_plaintext_answers_and_their_keys_refuse_replays(
    database_url: str, hub: HubContext, client: TestClient, county_a: MemberKey
) -> None:
    config = migrations_util.alembic_config(database_url)
    command.downgrade(config, _previous_revision())
    body = outflow(NUMBER, name=NAME)
    engine = make_engine(database_url)
    try:
        old_table = _keys_table(engine)
        with engine.begin() as connection:
            connection.execute(
                insert(old_table).values(
                    member_id=uuid.UUID(county_a.id), key="old", state="done", status_code=201,
                    request_hash=idempotency.request_hash("POST", "/api/v1/records", body),
                    response={"person": {"name": NAME, "id_number": NUMBER}},
                    created_at=hub_clock.now(),
                )
            )  # fmt: skip
        command.upgrade(config, "head")
        table = _keys_table(engine)
        with engine.connect() as connection:
            row = connection.execute(select(table)).mappings().one()
    finally:
        engine.dispose()
    assert row["state"] == "expired" and row["response_enc"] is None
    assert row["request_hash"] == ""  # an unkeyed hash of a person's record: gone too
    replay = client.post("/api/v1/records", json=body, headers={**county_a.headers,
                         "Idempotency-Key": "old"})  # fmt: skip
    assert replay.status_code == 409, replay.text
    assert replay.json()["field"] == "Idempotency-Key"
    assert "no longer kept" in replay.json()["detail"]

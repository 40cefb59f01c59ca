"""``HubClient`` against a live hub (uvicorn on 127.0.0.1; SQLite, or PostgreSQL with
``HUB_TEST_DATABASE_URL``): every member-facing call it offers, answered in the hub's own
types, and the refusals as the exception tree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange_hub.client import (
    AuthenticationError,
    ConflictError,
    Ed25519Signer,
    HubClient,
    InvalidInputError,
    NotFoundError,
    SM2Signer,
    load_signer,
)
from exchange_hub.exchange.schemas import MessageRead
from exchange_hub.records.schemas import BatchResult, RecordRead
from tests.agent.live import live_hub
from tests.exchange.helpers import query_body
from tests.records.factories import id_number, outflow
from tests.reliability.harness import HubServer, add_member

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with live_hub(tmp_path_factory.mktemp("hub")) as hub:
        yield hub


def test_records_messages_and_look_ups(server: HubServer, tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    origin = add_member(server, role="county", region="130102", public_key=signer.public_text())
    residence = add_member(server, role="county", region="440305")
    with HubClient(server.url, origin.api_key, signer=signer) as hub, \
            HubClient(server.url, residence.api_key) as other:  # fmt: skip
        assert hub.me().region == "130102"
        number = id_number("130102", seq=3)
        written = hub.create_record(outflow(number, county="130102"))
        assert written.outcome == "created"
        read = hub.get_record(written.id)
        assert isinstance(read, RecordRead) and read.person.id_number == number
        patched = hub.update_record(written.id, {"moved_on": "2026-04-01"})
        assert patched.version == 2 and len(hub.record_versions(written.id).items) == 2
        found = other.lookup_person({"id_number": number, "purpose": "certificate check"})
        assert found.matches
        batch = hub.push_batch(outflow(id_number("130102", seq=s), county="130102")
                               for s in range(5, 9))  # fmt: skip
        assert isinstance(batch, BatchResult) and batch.accepted == 4

        accepted = other.send_message(query_body(to_region="130102", subject_id=number))
        inbox = list(hub.inbox())
        assert [i.id for i in inbox] == [accepted.id]
        answered = hub.answer(accepted.id, {"result": "found"})
        assert answered.state == "answered" and not answered.needs_feedback
        again = hub.answer(accepted.id, {"result": "found"})  # a retry: the same answer
        assert again.state == "answered"
        with pytest.raises(InvalidInputError) as other_answer:  # another answer: refused
            hub.answer(accepted.id, {"result": "not_found"})
        assert other_answer.value.field == "Idempotency-Key"
        sent = list(other.outbox())
        assert [m.id for m in sent] == [accepted.id] and sent[0].state == "answered"
        message = other.get_message(accepted.id)
        assert isinstance(message, MessageRead) and message.feedback is not None
        pages = list(hub.changes())
        assert sum(len(items) for items, _ in pages) >= 7 and pages[-1][0] == []

        assert hub.region("130102").level == "county"
        assert any(r.code == "130102" for r in hub.regions(parent="130100").items)
        assert hub.calendar_year(2026).year == 2026
        assert hub.hub_key()


def test_refusals_are_the_exception_tree(server: HubServer) -> None:
    county = add_member(server, role="county", region="130104")
    with HubClient(server.url, county.api_key) as hub:
        with pytest.raises(NotFoundError) as missing:
            hub.get_record("01a24fc7-46a8-7439-9ef1-9a5059a6bca9")
        assert missing.value.status == 404 and "没有找到" in str(missing.value)
        accepted = hub.send_message(query_body(to_region="440305",
                                               subject_id=id_number("440305")))  # fmt: skip
        hub.withdraw(accepted.id)
        other = add_member(server, role="county", region="440305")
        with HubClient(server.url, other.api_key) as nanshan, pytest.raises(ConflictError):
            nanshan.acknowledge(accepted.id)


def test_a_county_signing_with_sm2_is_accepted_and_a_tampered_signature_refused(
    server: HubServer, tmp_path: Path
) -> None:
    """The national profile's member signature, from the client: the key file as
    ``exchange-hub-agent keygen --sm2`` writes it, the public key as members register it."""
    key_file = tmp_path / "sm2.key"
    key_file.write_text(SM2Signer.generate().private_text() + "\n", encoding="ascii")
    signer = load_signer(key_file)
    assert isinstance(signer, SM2Signer) and len(signer.public_text()) == 130
    county = add_member(server, role="county", region="130105", public_key=signer.public_text())
    with HubClient(server.url, county.api_key, signer=signer) as hub:
        assert hub.me().region == "130105"
    other = SM2Signer.generate()  # a key the hub does not know for this member
    with (
        HubClient(server.url, county.api_key, signer=other) as hub,
        pytest.raises(AuthenticationError) as refused,
    ):
        hub.me()
    assert refused.value.status == 401
    with pytest.raises(ValueError, match="SM2"):
        SM2Signer.from_text("sm2:" + "00" * 32)  # zero is no private key

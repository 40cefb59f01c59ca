"""Who a person signed in at the identity provider is in the hub (``web/oidc_accounts.py``):
linked accounts, the claim mapping and its allowlists, refusals, and ``users link``."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from exchange_hub.cli import app
from exchange_hub.config import Settings
from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.errors import Conflict, InvalidInput, NotFound
from exchange_hub.models import ConsoleSession, ConsoleUser
from exchange_hub.web import auth, oidc_accounts
from exchange_hub.web.oidc_accounts import ClaimMapping, Unmapped
from tests.web.helpers import audit_rows, make_user

MAPPING = ClaimMapping(
    role_claim="hub_role",
    region_claim="hub_region",
    allowed_roles=("county",),
    allowed_regions=("440000",),
)


def _resolve(hub: HubContext, claims: dict[str, Any], mapping: ClaimMapping = MAPPING) -> Any:
    with transaction(hub.sessions) as session:
        found = oidc_accounts.resolve(session, mapping, claims)
        if isinstance(found, ConsoleUser):
            return (found.username, found.role, found.region, found.person_data_grant)
        return found


def _link(hub: HubContext, username: str, subject: str) -> None:
    with transaction(hub.sessions) as session:
        oidc_accounts.link_subject(session, username=username, subject=subject)


def test_a_linked_account_keeps_its_own_role_region_and_grant(hub: HubContext) -> None:
    make_user(hub, "wang_cn", role="admin", region="000000", person_data=True)
    _link(hub, "wang_cn", "sub-wang")
    claims = {"sub": "sub-wang", "hub_role": "county", "hub_region": "440305"}
    assert _resolve(hub, claims) == ("wang_cn", "admin", "000000", True)
    assert _resolve(hub, {"sub": "sub-wang"}, ClaimMapping("", "", (), ())) == (
        "wang_cn",
        "admin",
        "000000",
        True,
    )


def test_the_claim_mapping_makes_a_county_account_without_the_person_data_grant(
    hub: HubContext,
) -> None:
    claims = {"sub": "li-1", "hub_role": "county", "hub_region": "440305", "person_data": True}
    username, role, region, grant = _resolve(hub, claims)
    assert (role, region, grant) == ("county", "440305", False)
    assert username == oidc_accounts.managed_username("li-1")
    with hub.sessions() as session:
        user = session.query(ConsoleUser).filter_by(username=username).one()
        assert user.claims_managed and user.oidc_subject == "li-1"
        # no password opens it
        assert not isinstance(
            auth.sign_in(session, username=username, password="!", client=None), auth.SignedIn
        )
    # the same person again: the same account, following the claims
    again = _resolve(hub, {**claims, "hub_region": "440106"})
    assert again == (username, "county", "440106", False)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"hub_role": "admin", "hub_region": "440000"}, "role"),  # admin not allowed
        ({"hub_role": "operator", "hub_region": "440305"}, "role"),
        ({"hub_role": ["county"], "hub_region": "440305"}, "role"),
        ({"hub_region": "440305"}, "role"),
        ({"hub_role": "county", "hub_region": "110105"}, "region"),  # outside the allowlist
        ({"hub_role": "county", "hub_region": "440300"}, "region"),  # a county role, a city
        ({"hub_role": "county", "hub_region": "44030"}, "region"),
        ({"hub_role": "county", "hub_region": 440305}, "region"),
        ({"hub_role": "county", "hub_region": "449999"}, "region"),  # no such county
        ({"hub_role": "county"}, "region"),
    ],
)
def test_the_mapping_never_gives_more_than_it_allows(
    hub: HubContext, claims: dict[str, Any], reason: str
) -> None:
    assert _resolve(hub, {"sub": "x-1", **claims}) == Unmapped(reason, "x-1")  # type: ignore[arg-type]
    with hub.sessions() as session:
        assert session.query(ConsoleUser).count() == 0


def test_an_admin_role_only_when_listed_and_never_a_county_region(hub: HubContext) -> None:
    mapping = ClaimMapping("hub_role", "hub_region", ("county", "admin"), ("440000",))
    admin = _resolve(hub, {"sub": "a-1", "hub_role": "admin", "hub_region": "440300"}, mapping)
    assert admin[1:] == ("admin", "440300", False)
    county_admin = {"sub": "a-2", "hub_role": "admin", "hub_region": "440305"}
    assert _resolve(hub, county_admin, mapping) == Unmapped("region", "a-2")
    wider = {"sub": "a-3", "hub_role": "admin", "hub_region": "000000"}
    assert _resolve(hub, wider, mapping) == Unmapped("region", "a-3")


def test_without_a_mapping_an_unlinked_subject_is_unmapped(hub: HubContext) -> None:
    off = ClaimMapping("hub_role", "hub_region", ("county",), ())  # no allowed region: off
    claims = {"sub": "n-1", "hub_role": "county", "hub_region": "440305"}
    assert _resolve(hub, claims, off) == Unmapped("unmapped", "n-1")


def test_a_claims_account_whose_claims_leave_the_allowlist_is_refused(hub: HubContext) -> None:
    _resolve(hub, {"sub": "m-1", "hub_role": "county", "hub_region": "440305"})
    moved = {"sub": "m-1", "hub_role": "county", "hub_region": "110105"}
    assert _resolve(hub, moved) == Unmapped("region", "m-1")


def test_a_locked_account_is_refused(hub: HubContext) -> None:
    make_user(hub, "zhao", role="county", region="440305")
    _link(hub, "zhao", "sub-zhao")
    with transaction(hub.sessions) as session:
        session.query(ConsoleUser).filter_by(username="zhao").one().active = False
    assert _resolve(hub, {"sub": "sub-zhao"}) == Unmapped("locked", "sub-zhao")


def test_sign_in_opens_a_session_with_the_subject_and_audits_it(hub: HubContext) -> None:
    settings = Settings(
        oidc_role_claim="hub_role", oidc_region_claim="hub_region", oidc_allowed_regions=["44"]
    )
    claims = {"sub": "s-1", "hub_role": "county", "hub_region": "440305"}
    with transaction(hub.sessions) as session:
        signed = oidc_accounts.sign_in(session, settings, claims, client="10.1.2.3")
        assert isinstance(signed, auth.SignedIn)
        row = session.get(ConsoleSession, auth.token_hash(signed.token))
        assert row is not None and row.oidc_subject == "s-1"
        assert signed.user.last_sign_in_client == "10.1.2.3"
    (entry,) = audit_rows(hub, "console.sign_in")
    assert entry.outcome == "ok"
    assert entry.detail is not None
    assert (entry.detail["method"], entry.detail["subject"], entry.detail["mapped_by"]) == (
        "oidc",
        "s-1",
        "claims",
    )


def test_an_unmapped_sign_in_is_audited_with_its_subject(hub: HubContext) -> None:
    with transaction(hub.sessions) as session:
        refused = oidc_accounts.sign_in(session, Settings(), {"sub": "who-1"}, client=None)
    assert refused == Unmapped("unmapped", "who-1")
    (entry,) = audit_rows(hub, "console.sign_in")
    assert entry.outcome == "refused"
    assert entry.detail == {"method": "oidc", "reason": "unmapped", "subject": "who-1"}


def test_link_refuses_a_subject_linked_elsewhere_and_unknown_users(hub: HubContext) -> None:
    make_user(hub, "qian", role="county", region="440305")
    make_user(hub, "sun", role="county", region="440305")
    _link(hub, "qian", "sub-q")
    _link(hub, "qian", "sub-q")  # again: nothing changes
    with pytest.raises(Conflict) as conflict:
        _link(hub, "sun", "sub-q")
    assert conflict.value.field == "subject"
    with pytest.raises(NotFound):
        _link(hub, "nobody", "sub-n")
    with pytest.raises(InvalidInput):
        _link(hub, "sun", " ")
    with pytest.raises(InvalidInput):
        _link(hub, "sun", "x" * 256)
    assert len(audit_rows(hub, "console.user_linked")) == 2


def test_users_link_command(hub: HubContext, database_url: str) -> None:
    make_user(hub, "zhou", role="county", region="440305")
    env = {
        "HUB_DATABASE_URL": database_url,
        "HUB_DATA_DIR": str(hub.settings.data_dir),
        "HUB_LOG_JSON": "false",
    }
    args = ["users", "link", "--username", "zhou", "--subject", "248289761001"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert _resolve(hub, {"sub": "248289761001"})[0] == "zhou"
    unknown_user = ["users", "link", "--username", "x", "--subject", "s"]
    unknown = CliRunner().invoke(app, unknown_user, env=env)
    assert unknown.exit_code != 0
    assert "username" in unknown.output

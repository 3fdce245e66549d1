"""Connecting, reading and disconnecting a tenant's QBO company: routes → service → moto + QBO sandbox."""

# ruff: noqa: F811  (the world fixture is imported from the support module)

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from qbosync.store.connections import ConnectionRepository
from qbosync.store.ledger import WriteIntent, WriteLedger
from qbosync.store.table import OWNER_SK, MainTable, realm_pk
from tests.support.connection_world import (
    ADMIN,
    ADMIN_RETURN_URL,
    REDIRECT_URI,
    SANDBOX_BASE,
    TENANT_A,
    TENANT_B,
    ConnectionWorld,
    world,  # noqa: F401 - the fixture, used by name
)


def _company_name(world: ConnectionWorld, realm_id: str) -> str:
    return world.sandbox.companies[realm_id].company_name


def test_given_an_admin_when_starting_then_302_to_intuit_with_the_accounting_scope_and_a_signed_state(
    world: ConnectionWorld,
) -> None:
    reply = world.start()

    query = {key: values[0] for key, values in parse_qs(urlsplit(reply.location).query).items()}
    assert reply.status == 302
    assert reply.location.startswith(f"{SANDBOX_BASE}/connect/oauth2?")
    assert reply.body == {"authorize_url": reply.location}
    assert query["scope"] == "com.intuit.quickbooks.accounting"
    assert (query["response_type"], query["redirect_uri"]) == ("code", REDIRECT_URI)
    assert query["state"].startswith("v1.") and len(query["state"].split(".")) == 4


def test_given_consent_when_the_callback_arrives_then_connection_and_tokens_are_stored(
    world: ConnectionWorld,
) -> None:
    realm_id = world.realms[0]

    reply = world.connect()

    assert reply.status == 302
    assert reply.location.startswith(ADMIN_RETURN_URL + "?")
    assert reply.outcome() == {"qbo_connection": "connected", "tenant_id": TENANT_A, "realm_id": realm_id}
    connection = ConnectionRepository().get(TENANT_A)
    assert connection is not None
    assert (connection.status, connection.realm_id, connection.connected_by) == ("connected", realm_id, ADMIN)
    assert connection.company_name == _company_name(world, realm_id)
    assert [check["id"] for check in connection.prerequisites] == [
        "qbo_admin_access",
        "accrual_basis",
        "zero_rate_tax_code",
    ]
    tokens = world.stored_tokens()
    assert tokens is not None
    assert tokens["realm_id"] == realm_id
    assert world.qbo(TENANT_A, realm_id).company_info()["CompanyName"] == _company_name(world, realm_id)


def test_given_a_connection_when_its_status_is_read_then_it_shows_who_when_and_prerequisites_but_no_token(
    world: ConnectionWorld,
) -> None:
    world.connect()
    tokens = world.stored_tokens()
    assert tokens is not None

    reply = world.call("api_connection_get.json")

    assert reply.status == 200
    assert reply.body["status"] == "connected"
    assert reply.body["realm_id"] == world.realms[0]
    assert reply.body["company_name"] == _company_name(world, world.realms[0])
    assert reply.body["connected_by"] == ADMIN
    assert reply.body["connected_at"]
    assert {check["status"] for check in reply.body["prerequisites"]} == {"pass"}
    text = str(reply.body)
    assert tokens["access_token"] not in text
    assert tokens["refresh_token"] not in text


def test_given_a_company_whose_plan_changes_when_status_is_read_then_the_plan_shows_it_after_refresh(
    world: ConnectionWorld,
) -> None:
    world.connect()
    before = world.call("api_connection_get.json").body["plan"]
    changed = world.http.post(
        f"/_sandbox/realms/{world.realms[0]}/preferences",
        json={"multi_currency": True, "automated_sales_tax": True},
    )
    assert changed.status_code == 200, changed.text

    cached = world.call("api_connection_get.json").body["plan"]
    refreshed = world.call("api_connection_get.json", query={"refresh": "true"}).body["plan"]

    assert before["edition"] and before["home_currency"] == "USD"
    assert (before["multi_currency"], before["automated_sales_tax"]) == (False, False)
    assert (before["track_inventory"], before["account_numbers"]) == (True, True)
    assert cached == before  # read once, then from the reference cache
    assert (refreshed["multi_currency"], refreshed["automated_sales_tax"]) == (True, True)


def test_given_a_connection_when_disconnected_then_revoked_at_intuit_secret_gone_and_record_kept(
    world: ConnectionWorld,
) -> None:
    world.connect()
    tokens = world.stored_tokens()
    assert tokens is not None

    reply = world.call("api_connection_delete.json")

    assert reply.status == 200
    assert (reply.body["status"], reply.body["disconnected_by"]) == ("disconnected", ADMIN)
    assert world.stats()["revocations"] == 1
    assert world.sandbox.tokens.refresh_tokens[tokens["refresh_token"]].grant_id in {
        grant_id for grant_id, grant in world.sandbox.tokens.grants.items() if grant.revoked
    }
    assert world.stored_tokens() is None
    stored = ConnectionRepository().get(TENANT_A)
    assert stored is not None and stored.status == "disconnected"
    assert MainTable().get(realm_pk(world.realms[0]), OWNER_SK) is None
    assert world.call("api_connection_get.json").body["status"] == "disconnected"


def test_given_a_disconnected_tenant_when_disconnected_again_then_200_and_intuit_is_not_called_again(
    world: ConnectionWorld,
) -> None:
    world.connect()
    world.call("api_connection_delete.json")

    again = world.call("api_connection_delete.json")

    assert (again.status, again.body["status"]) == (200, "disconnected")
    assert world.stats()["revocations"] == 1


def test_given_a_disconnected_tenant_when_connecting_again_then_it_is_connected_with_new_tokens(
    world: ConnectionWorld,
) -> None:
    world.connect()
    world.call("api_connection_delete.json")

    reply = world.connect()

    assert reply.outcome()["qbo_connection"] == "connected"
    assert world.call("api_connection_get.json").body["status"] == "connected"
    assert world.stored_tokens() is not None


def test_given_a_released_realm_when_another_tenant_connects_it_then_it_is_connected(
    world: ConnectionWorld,
) -> None:
    world.connect(TENANT_A)
    world.call("api_connection_delete.json")

    reply = world.connect(TENANT_B, realm_id=world.realms[0])

    assert reply.outcome()["qbo_connection"] == "connected"
    assert ConnectionRepository().get(TENANT_B) is not None


def test_given_a_never_connected_tenant_when_status_is_read_then_409_not_connected(
    world: ConnectionWorld,
) -> None:
    reply = world.call("api_connection_get.json")

    assert (reply.status, reply.body["error"]["code"]) == (409, "not_connected")


def test_given_a_never_connected_tenant_when_disconnecting_then_409_and_intuit_is_not_called(
    world: ConnectionWorld,
) -> None:
    reply = world.call("api_connection_delete.json")

    assert (reply.status, reply.body["error"]["code"]) == (409, "not_connected")
    assert world.stats()["revocations"] == 0


def test_given_an_unknown_tenant_when_any_connection_route_is_called_then_404_unknown_tenant(
    world: ConnectionWorld,
) -> None:
    answers = {
        sample: world.call(sample, path=f"/tenants/ghost/qbo/{suffix}", tenants="ghost")
        for sample, suffix in (
            ("api_connect.json", "connect"),
            ("api_connection_get.json", "connection"),
            ("api_connection_delete.json", "connection"),
        )
    }

    assert {name: (r.status, r.body["error"]["code"]) for name, r in answers.items()} == dict.fromkeys(
        answers, (404, "unknown_tenant")
    )


def test_given_a_token_for_another_tenant_when_connecting_then_403_and_no_state_is_issued(
    world: ConnectionWorld,
) -> None:
    reply = world.call("api_connect.json", tenants=TENANT_B)

    assert (reply.status, reply.body["error"]["code"]) == (403, "tenant_forbidden")
    assert world.items_of_type("oauth_state") == []


def test_given_no_admin_claims_when_connecting_then_401(world: ConnectionWorld) -> None:
    reply = world.call("api_connect.json", tenants=None)

    assert (reply.status, reply.body["error"]["code"]) == (401, "unauthorized")


def test_given_prerequisite_checks_that_crash_when_connecting_then_connected_with_a_warning_to_run_preflight(
    world: ConnectionWorld,
) -> None:
    def crashing(tenant_id: str, realm_id: str) -> list[dict[str, object]]:
        raise TimeoutError("QBO did not answer")

    world.service.prerequisites = crashing

    reply = world.connect()

    assert reply.outcome()["qbo_connection"] == "connected"
    checks = world.call("api_connection_get.json").body["prerequisites"]
    assert [(check["id"], check["status"]) for check in checks] == [("prerequisites", "warn")]
    assert "TimeoutError" in checks[0]["reason"]


def _open_write(tenant_id: str) -> WriteIntent:
    intent = WriteIntent(
        tenant_id=tenant_id,
        link_entity="Payment",
        qbo_entity="Payment",
        source_id="pay_000001",
        version=3,
        operation="create",
        request_id="e09536919a79f0c16505b617bf382467",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    WriteLedger().begin(intent)
    return intent


def test_given_an_ambiguous_qbo_write_when_disconnecting_then_409_lists_it_and_nothing_is_revoked(
    world: ConnectionWorld,
) -> None:
    world.connect()
    intent = _open_write(TENANT_A)

    reply = world.call("api_connection_delete.json")

    assert (reply.status, reply.body["error"]["code"]) == (409, "ambiguous_writes")
    (listed,) = reply.body["error"]["details"]
    assert (listed["entity"], listed["source_id"], listed["operation"], listed["request_id"]) == (
        "Payment",
        "pay_000001",
        "create",
        intent.request_id,
    )
    assert world.stats()["revocations"] == 0
    assert world.call("api_connection_get.json").body["status"] == "connected"


def test_given_an_ambiguous_qbo_write_when_disconnecting_with_force_then_it_is_disconnected(
    world: ConnectionWorld,
) -> None:
    world.connect()
    _open_write(TENANT_A)

    reply = world.call("api_connection_delete.json", query={"force": "true"})

    assert (reply.status, reply.body["status"]) == (200, "disconnected")
    assert world.stats()["revocations"] == 1


# ------------------------------------------------------------------ Intuit's Disconnect and Reconnect URLs


def _disconnect_url(world: ConnectionWorld, realm_id: str) -> str:
    reply = world.call("api_intuit_disconnect_url.json", query={"realmId": realm_id}, tenants=None)
    assert reply.status == 302
    return parse_qs(urlsplit(reply.location).query)["qbo_connection"][0]


def test_given_the_app_disconnected_in_quickbooks_when_intuit_opens_the_disconnect_url_then_it_is_recorded(
    world: ConnectionWorld,
) -> None:
    world.connect()
    realm_id = world.realms[0]
    tokens = world.stored_tokens()
    assert tokens is not None
    world.oauth.revoke(tokens["refresh_token"])  # what disconnecting inside QuickBooks does to the grant

    outcome = _disconnect_url(world, realm_id)

    stored = ConnectionRepository().get(TENANT_A)
    assert outcome == "disconnected_in_quickbooks"
    assert stored is not None and (stored.status, stored.disconnected_by) == ("disconnected", "intuit")
    assert world.stored_tokens() is None
    assert MainTable().get(realm_pk(realm_id), OWNER_SK) is None


def test_given_a_working_grant_when_someone_opens_the_disconnect_url_then_the_connection_is_kept(
    world: ConnectionWorld,
) -> None:
    world.connect()
    tokens = world.stored_tokens()

    outcome = _disconnect_url(world, world.realms[0])

    stored = ConnectionRepository().get(TENANT_A)
    assert outcome == "still_connected"
    assert stored is not None and stored.status == "connected"
    assert world.stored_tokens() == tokens
    assert world.stats()["revocations"] == 0


def test_given_an_unknown_or_malformed_realm_when_the_disconnect_url_is_opened_then_nothing_changes(
    world: ConnectionWorld,
) -> None:
    world.connect()

    outcomes = [_disconnect_url(world, realm) for realm in ("123", "not-a-realm", "")]

    stored = ConnectionRepository().get(TENANT_A)
    assert outcomes == ["not_connected"] * 3
    assert stored is not None and stored.status == "connected"


def test_given_intuit_sends_a_user_to_the_reconnect_url_then_302_to_the_consoles_connection_screen(
    world: ConnectionWorld,
) -> None:
    reply = world.call("api_intuit_reconnect_url.json", tenants=None)

    assert (reply.status, reply.location) == (302, "/console?screen=connection&reconnect=1")

"""ConnectionRepository against moto: realm ownership, status changes and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qbosync.store.connections import (
    Connection,
    ConnectionNotFound,
    ConnectionRepository,
    RealmClaimedByAnotherTenant,
)
from qbosync.store.schema import SCHEMA_VERSION
from qbosync.store.table import MainTable, realm_pk

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def a_connection(tenant_id: str = "t1", realm_id: str = "9130001") -> Connection:
    return Connection(
        tenant_id=tenant_id,
        realm_id=realm_id,
        company_name="Acme Ltd",
        connected_by="admin-1",
        connected_at=AT,
        prerequisites=[{"check": "zero_rate_tax_code", "ok": True}],
    )


def test_given_a_new_connection_when_recorded_then_it_is_found_by_tenant_and_by_realm(
    main_table: str,
) -> None:
    repository = ConnectionRepository()

    repository.record_connected(a_connection())

    by_tenant = repository.get("t1")
    by_realm = repository.get_by_realm("9130001")
    assert by_tenant is not None and by_tenant.status == "connected"
    assert by_tenant.prerequisites == [{"check": "zero_rate_tax_code", "ok": True}]
    assert by_realm == by_tenant


def test_given_a_realm_owned_by_another_tenant_when_connecting_then_typed_error_and_nothing_stored(
    main_table: str,
) -> None:
    repository = ConnectionRepository()
    repository.record_connected(a_connection("t1"))

    with pytest.raises(RealmClaimedByAnotherTenant):
        repository.record_connected(a_connection("t2"))

    assert repository.get("t2") is None
    assert repository.audit_trail("t2") == []
    assert repository.get_by_realm("9130001") == repository.get("t1")


def test_given_the_same_tenant_when_reconnecting_the_same_realm_then_it_is_allowed(main_table: str) -> None:
    repository = ConnectionRepository()
    repository.record_connected(a_connection("t1"))
    repository.mark_needs_reauth("t1", "invalid_grant", LATER)

    renewed = repository.record_connected(a_connection("t1"))

    assert renewed.status == "connected"
    stored = repository.get("t1")
    assert stored is not None and stored.needs_reauth_reason is None and stored.status == "connected"


def test_given_a_disconnected_tenant_when_another_tenant_connects_that_realm_then_it_succeeds(
    main_table: str,
) -> None:
    repository = ConnectionRepository()
    repository.record_connected(a_connection("t1"))

    disconnected = repository.mark_disconnected("t1", by="admin-1", at=LATER)
    repository.record_connected(a_connection("t2"))

    assert disconnected.status == "disconnected" and disconnected.disconnected_at == LATER
    by_realm = repository.get_by_realm("9130001")
    assert by_realm is not None and by_realm.tenant_id == "t2"
    assert MainTable().get(realm_pk("9130001"), "OWNER") == {
        "pk": "REALM#9130001",
        "sk": "OWNER",
        "tenant_id": "t2",
        "item_type": "realm_owner",
        "schema_version": SCHEMA_VERSION,
    }


def test_given_a_tenant_moving_to_another_realm_when_recorded_then_the_old_realm_is_released(
    main_table: str,
) -> None:
    repository = ConnectionRepository()
    repository.record_connected(a_connection("t1", "111"))

    repository.record_connected(a_connection("t1", "222"))
    repository.record_connected(a_connection("t2", "111"))

    moved = repository.get("t1")
    assert moved is not None and moved.realm_id == "222"
    assert repository.get_by_realm("111") == repository.get("t2")


def test_given_a_connection_when_marked_needs_reauth_twice_then_the_first_time_is_kept(
    main_table: str,
) -> None:
    repository = ConnectionRepository()
    repository.record_connected(a_connection())

    repository.mark_needs_reauth("t1", "invalid_grant: first", AT)
    marked = repository.mark_needs_reauth("t1", "invalid_grant: second", LATER)

    assert marked.status == "needs_reauth"
    assert marked.needs_reauth_since == AT
    assert marked.needs_reauth_reason == "invalid_grant: second"


def test_given_no_connection_when_marking_needs_reauth_then_connection_not_found(main_table: str) -> None:
    with pytest.raises(ConnectionNotFound):
        ConnectionRepository().mark_needs_reauth("nobody", "invalid_grant", AT)


def test_given_a_refresh_when_recorded_then_refresh_times_are_stored(main_table: str) -> None:
    repository = ConnectionRepository()
    repository.record_connected(a_connection())

    repository.record_refresh("t1", LATER, datetime(2027, 2, 1, tzinfo=UTC))

    stored = repository.get("t1")
    assert stored is not None
    assert stored.last_refreshed_at == LATER
    assert stored.refresh_token_expires_at == datetime(2027, 2, 1, tzinfo=UTC)


def test_given_mixed_statuses_when_listing_connected_then_only_connected_ones_return(main_table: str) -> None:
    repository = ConnectionRepository()
    repository.record_connected(a_connection("t1", "1"))
    repository.record_connected(a_connection("t2", "2"))
    repository.record_connected(a_connection("t3", "3"))
    repository.mark_needs_reauth("t2", "invalid_grant", LATER)
    repository.mark_disconnected("t3", by="admin", at=LATER)

    connected = repository.list_connected()

    assert [c.tenant_id for c in connected] == ["t1"]


def test_given_a_connection_lifecycle_when_reading_the_audit_trail_then_every_step_is_there_in_order(
    main_table: str,
) -> None:
    repository = ConnectionRepository()
    repository.record_connected(a_connection())
    repository.mark_needs_reauth("t1", "invalid_grant", datetime(2026, 11, 1, 10, tzinfo=UTC))
    repository.mark_disconnected("t1", by="admin-2", at=LATER)

    trail = repository.audit_trail("t1")

    assert [(e.action, e.actor) for e in trail] == [
        ("connection.connected", "admin-1"),
        ("connection.needs_reauth", "qbosync"),
        ("connection.disconnected", "admin-2"),
    ]


def test_given_connection_changes_when_listed_by_the_config_audit_reader_then_they_appear_there_too(
    main_table: str,
) -> None:
    from qbosync.store.config import AuditRepository

    repository = ConnectionRepository()
    repository.record_connected(a_connection())
    repository.mark_disconnected("t1", by="admin-2", at=LATER)

    entries, _ = AuditRepository().list("t1")

    assert [(e.action, e.target, e.after["status"]) for e in entries] == [
        ("connection.disconnected", "connection", "disconnected"),
        ("connection.connected", "connection", "connected"),
    ]

"""Retention against moto: done events and audit entries carry a TTL; what sync needs never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.settings import Retention, get_retention
from qbosync.store.config import AuditRecord, SettingsRepository
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.events import EventFailure, EventRepository, ReasonCode, SyncEvent
from qbosync.store.links import Link, LinkRepository
from qbosync.store.table import MainTable, event_sk, tenant_pk

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LATER = AT + timedelta(days=3)


def _received(repository: EventRepository, event_id: str) -> None:
    repository.record_received(
        SyncEvent(
            event_id=event_id,
            tenant_id="t1",
            kind="invoice.created",
            source_object_id=f"inv-{event_id}",
            source_version=1,
            received_at=AT,
            updated_at=AT,
            payload={"id": f"inv-{event_id}"},
        )
    )


def _raw(tenant_id: str, sk: str) -> dict[str, object]:
    item = MainTable().get(tenant_pk(tenant_id), sk)
    assert item is not None
    return item


def test_given_events_in_each_status_when_stored_then_only_done_ones_expire_after_the_retention(
    main_table: str,
) -> None:
    repository = EventRepository(retention=timedelta(days=30))
    for event_id in ("done", "failed", "parked", "received"):
        _received(repository, event_id)
    repository.mark_done("t1", "done", LATER)
    repository.mark_failed("t1", "failed", EventFailure.of(ReasonCode.UPSTREAM_UNAVAILABLE, "down"), LATER)
    repository.mark_parked("t1", "parked", "invoice:1", LATER)

    expiries = {
        event_id: _raw("t1", event_sk(event_id)).get("expires_at")
        for event_id in ("done", "failed", "parked", "received")
    }

    assert expiries == {
        "done": int((LATER + timedelta(days=30)).timestamp()),
        "failed": None,
        "parked": None,
        "received": None,
    }


def test_given_a_done_event_when_it_fails_again_on_replay_then_it_no_longer_expires(main_table: str) -> None:
    repository = EventRepository(retention=timedelta(days=30))
    _received(repository, "e1")
    repository.mark_done("t1", "e1", AT)

    repository.mark_failed("t1", "e1", EventFailure.of(ReasonCode.UPSTREAM_UNAVAILABLE, "down"), LATER)

    assert "expires_at" not in _raw("t1", event_sk("e1"))
    assert repository.get("t1", "e1") is not None


def test_given_audited_changes_when_stored_then_each_audit_entry_expires_after_the_audit_retention(
    main_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBOSYNC_AUDIT_RETENTION_DAYS", "365")
    get_retention.cache_clear()
    connections = ConnectionRepository()
    connections.record_connected(
        Connection(tenant_id="t1", realm_id="9130001", connected_by="admin", connected_at=AT)
    )
    SettingsRepository().replace(
        "t1", {"a": 1}, 0, AuditRecord("admin", "replace", "settings", {}, {"a": 1}, AT)
    )

    audit_items = list(MainTable().query_all(tenant_pk("t1"), "AUDIT#"))
    kept = {item["sk"]: item for item in MainTable().query_all(tenant_pk("t1")) if "expires_at" in item}

    assert len(audit_items) == 2
    assert {item["expires_at"] for item in audit_items} == {int((AT + timedelta(days=365)).timestamp())}
    assert set(kept) == {item["sk"] for item in audit_items}  # the connection and settings never expire


def test_given_a_link_when_stored_then_it_never_expires(main_table: str) -> None:
    LinkRepository().put(
        Link(tenant_id="t1", entity="Invoice", source_id="inv-1", qbo_id="7", source_version=3, updated_at=AT)
    )

    [item] = list(MainTable().query_all(tenant_pk("t1"), "LINK#"))

    assert "expires_at" not in item


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QBOSYNC_EVENT_RETENTION_DAYS", "6"),
        ("QBOSYNC_AUDIT_RETENTION_DAYS", "29"),
        ("QBOSYNC_EVENT_RETENTION_DAYS", "3651"),
    ],
)
def test_given_a_retention_outside_its_bounds_when_read_then_it_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValueError, match=variable):
        Retention()

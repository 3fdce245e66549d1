"""When a QBO notification is taken for qbosync's own write from its link alone (no QBO read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from qbosync.store.links import Link, LinkState
from qbosync.sync.pull.echo import own_write_without_reading
from qbosync.sync.records.messages import EntityChange

CHANGED_AT = datetime(2026, 11, 22, 5, 0, 7, tzinfo=UTC)


def _link(**fields: Any) -> Link:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "entity": "Invoice",
        "source_id": "inv_000001",
        "qbo_id": "42",
        "sync_token": "3",
        "content_hash": "sha256:abc",
        "source_version": 2,
        "updated_at": CHANGED_AT + timedelta(milliseconds=80),
        "origin": "qbosync",
    }
    return Link.model_validate({**values, **fields})


def _change(operation: str, last_updated: datetime | None = CHANGED_AT) -> EntityChange:
    return EntityChange.model_validate(
        {
            "realm_id": "9341453050108822",
            "entity": "Invoice",
            "entity_id": "42",
            "operation": operation,
            "last_updated": last_updated,
            "dedupe_key": f"test|{operation}",
        }
    )


def test_given_a_link_the_push_deleted_when_any_later_change_is_notified_then_it_is_an_echo() -> None:
    link = _link(state=LinkState.DELETED, sync_token=None, updated_at=CHANGED_AT - timedelta(days=1))

    reasons = [
        own_write_without_reading(link, _change(operation)) for operation in ("Delete", "Update", "Void")
    ]

    assert all(reason is not None for reason in reasons)


def test_given_a_link_the_push_voided_when_a_void_is_notified_then_it_is_an_echo() -> None:
    assert own_write_without_reading(_link(state=LinkState.VOIDED), _change("Void")) is not None


def test_given_a_link_not_voided_when_a_void_is_notified_then_it_is_read() -> None:
    assert own_write_without_reading(_link(), _change("Void")) is None


def test_given_a_voided_link_when_an_update_is_notified_then_it_is_read() -> None:
    assert own_write_without_reading(_link(state=LinkState.VOIDED), _change("Update")) is None


def test_given_a_record_linked_after_its_creation_when_the_create_is_notified_then_it_is_an_echo() -> None:
    assert own_write_without_reading(_link(sync_token="0"), _change("Create")) is not None


def test_given_a_link_written_before_the_change_when_a_create_is_notified_then_it_is_read() -> None:
    link = _link(updated_at=CHANGED_AT - timedelta(seconds=1))

    assert own_write_without_reading(link, _change("Create")) is None


def test_given_qbosync_updated_the_record_since_when_an_update_is_notified_then_it_is_an_echo() -> None:
    assert own_write_without_reading(_link(qbo_written_at=CHANGED_AT), _change("Update")) is not None


def test_given_qbosync_only_created_the_record_before_when_an_update_is_notified_then_it_is_read() -> None:
    link = _link(sync_token="0", qbo_written_at=CHANGED_AT - timedelta(seconds=3))

    assert own_write_without_reading(link, _change("Update")) is None


def test_given_a_change_after_qbosync_updated_the_record_when_an_update_is_notified_then_it_is_read() -> None:
    link = _link(qbo_written_at=CHANGED_AT - timedelta(seconds=1))

    assert own_write_without_reading(link, _change("Update")) is None


def test_given_a_link_rerecorded_without_a_write_after_a_qbo_edit_when_notified_then_it_is_read() -> None:
    # qbosync wrote at :05; an accountant edited at :07; a repeated source event re-recorded the link
    # (no QBO write) at :07.080. The edit is not qbosync's, whatever the link's updated_at says.
    link = _link(qbo_written_at=CHANGED_AT - timedelta(seconds=2))

    assert own_write_without_reading(link, _change("Update")) is None


def test_given_a_record_qbosync_never_wrote_when_an_update_is_notified_then_it_is_read() -> None:
    assert own_write_without_reading(_link(origin="matched"), _change("Update")) is None


def test_given_a_notification_without_last_updated_when_an_update_is_notified_then_it_is_read() -> None:
    link = _link(qbo_written_at=CHANGED_AT)

    assert own_write_without_reading(link, _change("Update", last_updated=None)) is None


def test_given_a_merge_when_notified_then_it_is_read() -> None:
    assert own_write_without_reading(_link(), _change("Merge")) is None

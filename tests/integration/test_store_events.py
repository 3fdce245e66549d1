"""EventRepository against moto: idempotent receipt, status transitions, listings and parked lookups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.store.events import (
    EventFailure,
    EventNotFound,
    EventRepository,
    MissingMappingRef,
    QboFaultInfo,
    ReasonCode,
    SyncEvent,
)
from qbosync.store.table import event_sk, events_gsi1pk, tenant_pk
from tests.support.stored_items import put_as_version_1

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
RETRYING = EventFailure.of(ReasonCode.RETRYING, "SourceUnavailable; the queue delivers it again")


def an_event(
    event_id: str, *, minutes: int = 0, kind: str = "payment.created", tenant_id: str = "t1"
) -> SyncEvent:
    received = AT + timedelta(minutes=minutes)
    return SyncEvent(
        event_id=event_id,
        tenant_id=tenant_id,
        kind=kind,
        source_object_id=f"obj-{event_id}",
        source_version=1,
        received_at=received,
        updated_at=received,
        payload={"id": f"obj-{event_id}", "amount": 12.5},
    )


def test_given_a_received_event_when_received_again_then_it_is_ignored(main_table: str) -> None:
    repository = EventRepository()

    first = repository.record_received(an_event("e1"))
    repeated = repository.record_received(an_event("e1").model_copy(update={"kind": "changed"}))

    stored = repository.get("t1", "e1")
    assert (first, repeated) == (True, False)
    assert stored is not None and stored.kind == "payment.created" and stored.payload["amount"] == 12.5


def test_given_events_in_several_statuses_when_listed_by_status_then_each_list_holds_its_own(
    main_table: str,
) -> None:
    repository = EventRepository()
    for n in range(4):
        repository.record_received(an_event(f"e{n}", minutes=n))
    repository.mark_done("t1", "e0", AT)
    repository.mark_done("t1", "e1", AT)
    refused = EventFailure.of(
        ReasonCode.QBO_REJECTED, "mapping missing", qbo_fault=QboFaultInfo(code="6000", message="Business")
    )
    repository.mark_failed("t1", "e2", refused, AT)

    done = repository.list("t1", "done")
    failed = repository.list("t1", "failed")
    received = repository.list("t1", "received")

    assert [e.event_id for e in done.items] == ["e1", "e0"]
    assert [(e.event_id, e.reason_code, e.reason, e.qbo_fault) for e in failed.items] == [
        ("e2", ReasonCode.QBO_REJECTED, "mapping missing", QboFaultInfo(code="6000", message="Business"))
    ]
    assert [e.event_id for e in received.items] == ["e3"]


def test_given_many_failed_events_when_listed_in_pages_then_the_cursor_walks_them_all(
    main_table: str,
) -> None:
    repository = EventRepository()
    for n in range(5):
        repository.record_received(an_event(f"e{n}", minutes=n))
        repository.mark_failed("t1", f"e{n}", EventFailure.of(ReasonCode.QBO_REJECTED, "boom"), AT)

    first = repository.list("t1", "failed", limit=3)
    second = repository.list("t1", "failed", limit=3, cursor=first.cursor)

    assert [e.event_id for e in first.items + second.items] == ["e4", "e3", "e2", "e1", "e0"]


def test_given_payments_parked_on_invoices_when_an_invoice_lands_then_only_its_payments_are_found(
    main_table: str,
) -> None:
    repository = EventRepository()
    for event_id, invoice, minutes in (
        ("p1", "invoice:12", 1),
        ("p2", "invoice:123", 2),
        ("p3", "invoice:12", 3),
    ):
        repository.record_received(an_event(event_id, minutes=minutes))
        repository.mark_parked("t1", event_id, invoice, AT, reason="invoice not in QBO yet")

    waiting = repository.parked_on("t1", "invoice:12")

    assert [(e.event_id, e.parked_on) for e in waiting] == [("p1", "invoice:12"), ("p3", "invoice:12")]


def test_given_a_parked_event_when_done_then_it_leaves_the_parked_index_and_counts_attempts(
    main_table: str,
) -> None:
    repository = EventRepository()
    repository.record_received(an_event("p1"))
    repository.mark_parked("t1", "p1", "invoice:12", AT)

    done = repository.mark_done("t1", "p1", AT + timedelta(minutes=5))

    assert (done.status, done.parked_on, done.attempts) == ("done", None, 2)
    assert repository.parked_on("t1", "invoice:12") == []
    assert [e.event_id for e in repository.list("t1", "parked").items] == []


def test_given_a_failed_event_when_done_with_a_note_then_the_note_replaces_the_failure(
    main_table: str,
) -> None:
    repository = EventRepository()
    repository.record_received(an_event("f1"))
    repository.mark_failed("t1", "f1", RETRYING, AT)

    done = repository.mark_done("t1", "f1", AT + timedelta(minutes=5), note="unchanged: QBO holds it already")

    assert (done.status, done.reason) == ("done", "unchanged: QBO holds it already")
    assert [e.reason for e in repository.list("t1", "done").items] == ["unchanged: QBO holds it already"]


def test_given_a_failed_event_when_done_without_a_note_then_no_reason_is_left(main_table: str) -> None:
    repository = EventRepository()
    repository.record_received(an_event("f2"))
    repository.mark_failed("t1", "f2", RETRYING, AT)

    done = repository.mark_done("t1", "f2", AT + timedelta(minutes=5))

    assert done.reason is None


def test_given_an_unknown_event_when_marked_then_event_not_found(main_table: str) -> None:
    with pytest.raises(EventNotFound):
        EventRepository().mark_done("t1", "missing", AT)


def test_given_events_of_two_tenants_when_listing_one_then_the_other_is_not_visible(main_table: str) -> None:
    repository = EventRepository()
    repository.record_received(an_event("e1", tenant_id="t1"))
    repository.record_received(an_event("e2", tenant_id="t2"))

    assert [e.event_id for e in repository.list("t1", "received").items] == ["e1"]
    assert repository.get("t1", "e2") is None


def _store_old_shaped_failed_event(event_id: str, reason: str) -> None:
    """An event item as stored before reason codes: the code lived inside ``reason``."""
    put_as_version_1(
        {
            "pk": tenant_pk("t1"),
            "sk": event_sk(event_id),
            "gsi1pk": events_gsi1pk("t1", "failed"),
            "gsi1sk": f"{AT.isoformat()}#{event_id}",
            "item_type": "event",
            "event_id": event_id,
            "tenant_id": "t1",
            "kind": "payment",
            "source_object_id": "pay_1",
            "source_version": 1,
            "status": "failed",
            "reason": reason,
            "attempts": 1,
            "received_at": AT.isoformat(),
            "updated_at": AT.isoformat(),
            "payload": {},
        }
    )


@pytest.mark.parametrize(
    ("reason", "code", "retryable", "mapping"),
    [
        (
            "missing_mapping:payment-methods:CHECK",
            ReasonCode.MISSING_MAPPING,
            True,
            ("payment-methods", "CHECK"),
        ),
        ("retrying:SourceUnavailable", ReasonCode.RETRYING, True, None),
        ("drift: QBO total 1.00 differs", ReasonCode.DRIFT, False, None),
        ("unsupported: the QuickBooks grant expires soon", ReasonCode.UNSUPPORTED, False, None),
        ("qbo_closed_period", ReasonCode.QBO_CLOSED_PERIOD, True, None),
        ("drift_not_healable:voided_in_qbo", ReasonCode.DRIFT_NOT_HEALABLE, True, None),
        ("no default bill profile is configured", ReasonCode.NOT_APPLIED, True, None),
    ],
    ids=["mapping", "retrying", "drift", "unsupported", "qbo-code", "not-healable", "free-text"],
)
def test_given_an_event_stored_before_reason_codes_when_read_then_its_code_is_typed(
    main_table: str, reason: str, code: ReasonCode, retryable: bool, mapping: tuple[str, str] | None
) -> None:
    _store_old_shaped_failed_event("old-1", reason)

    event = EventRepository().get("t1", "old-1")

    assert event is not None and (event.reason_code, event.retryable) == (code, retryable)
    expected = MissingMappingRef(kind=mapping[0], source_key=mapping[1]) if mapping else None
    assert event.mapping == expected


def test_given_an_old_shaped_failed_event_when_done_then_it_reads_as_done_without_a_code(
    main_table: str,
) -> None:
    _store_old_shaped_failed_event("old-2", "retrying:QboServerFault")
    repository = EventRepository()

    done = repository.mark_done("t1", "old-2", AT + timedelta(minutes=1))

    assert (done.status, done.reason_code, done.reason) == ("done", None, None)


def test_given_received_events_when_stuck_ones_are_listed_then_only_those_older_than_the_cutoff_appear(
    main_table: str,
) -> None:
    repository = EventRepository()
    for n in range(3):
        repository.record_received(an_event(f"r{n}", minutes=n))

    stuck = repository.list_stuck("t1", older_than=AT + timedelta(minutes=1, seconds=30))

    assert [event.event_id for event in stuck.items] == ["r0", "r1"]

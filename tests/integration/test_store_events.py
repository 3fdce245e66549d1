"""EventRepository against moto: idempotent receipt, status transitions, listings and parked lookups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.store.events import EventNotFound, EventRepository, QboFaultInfo, SyncEvent

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


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
    repository.mark_failed("t1", "e2", "mapping missing", QboFaultInfo(code="6000", message="Business"), AT)

    done = repository.list("t1", "done")
    failed = repository.list("t1", "failed")
    received = repository.list("t1", "received")

    assert [e.event_id for e in done.items] == ["e1", "e0"]
    assert [(e.event_id, e.reason, e.qbo_fault) for e in failed.items] == [
        ("e2", "mapping missing", QboFaultInfo(code="6000", message="Business"))
    ]
    assert [e.event_id for e in received.items] == ["e3"]


def test_given_many_failed_events_when_listed_in_pages_then_the_cursor_walks_them_all(
    main_table: str,
) -> None:
    repository = EventRepository()
    for n in range(5):
        repository.record_received(an_event(f"e{n}", minutes=n))
        repository.mark_failed("t1", f"e{n}", "boom", None, AT)

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
    repository.mark_failed("t1", "f1", "retrying:SourceUnavailable", None, AT)

    done = repository.mark_done("t1", "f1", AT + timedelta(minutes=5), note="unchanged: QBO holds it already")

    assert (done.status, done.reason) == ("done", "unchanged: QBO holds it already")
    assert [e.reason for e in repository.list("t1", "done").items] == ["unchanged: QBO holds it already"]


def test_given_a_failed_event_when_done_without_a_note_then_no_reason_is_left(main_table: str) -> None:
    repository = EventRepository()
    repository.record_received(an_event("f2"))
    repository.mark_failed("t1", "f2", "retrying:SourceUnavailable", None, AT)

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

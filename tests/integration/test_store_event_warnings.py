"""EventRepository: warnings on done events (kept, replaced, dropped, filtered) and the one failed entry
a document keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qbosync.store.events import (
    MAX_WARNINGS,
    EventFailure,
    EventRepository,
    EventWarning,
    ReasonCode,
    SyncEvent,
    WarningCode,
)

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SHORTENED = EventWarning.of(WarningCode.DOC_NUMBER_SHORTENED, "number 'X' is 'INV-X' in QBO")
DEFAULTED = EventWarning.of(WarningCode.DEFAULT_ITEM_USED, "line l1 has no product")


def _received(
    repository: EventRepository, event_id: str, source_id: str = "inv_1", minutes: int = 0
) -> SyncEvent:
    event = SyncEvent(
        event_id=event_id,
        tenant_id="t1",
        kind="invoice",
        source_object_id=source_id,
        source_version=1,
        received_at=AT + timedelta(minutes=minutes),
        updated_at=AT + timedelta(minutes=minutes),
        payload={"id": source_id},
    )
    repository.record_received(event)
    return event


def test_given_a_done_event_with_repeated_warnings_when_read_then_each_is_kept_once_and_its_outcome_says_so(
    main_table: str,
) -> None:
    repository = EventRepository()
    _received(repository, "e1")

    done = repository.mark_done("t1", "e1", AT, note="created", warnings=[SHORTENED, DEFAULTED, SHORTENED])

    assert done.warnings == [SHORTENED, DEFAULTED]
    assert (done.status, done.outcome) == ("done", "done_with_warnings")


def test_given_many_warnings_when_recorded_then_at_most_the_cap_is_kept(main_table: str) -> None:
    repository = EventRepository()
    _received(repository, "e1")
    many = [EventWarning.of(WarningCode.DEFAULT_ITEM_USED, f"line {n}") for n in range(MAX_WARNINGS + 5)]

    done = repository.mark_done("t1", "e1", AT, warnings=many)

    assert len(done.warnings) == MAX_WARNINGS


def test_given_a_done_event_with_warnings_when_it_fails_on_a_replay_then_its_warnings_are_gone(
    main_table: str,
) -> None:
    repository = EventRepository()
    _received(repository, "e1")
    repository.mark_done("t1", "e1", AT, warnings=[SHORTENED])

    failed = repository.mark_failed("t1", "e1", EventFailure.of(ReasonCode.QBO_REJECTED, "refused"), AT)
    done_again = repository.mark_done("t1", "e1", AT)

    assert (failed.warnings, done_again.warnings, done_again.outcome) == ([], [], "done")


def test_given_done_events_with_and_without_warnings_when_listed_by_code_then_only_matching_ones_come_back(
    main_table: str,
) -> None:
    repository = EventRepository()
    for n, warnings in enumerate(([SHORTENED], [DEFAULTED], [])):
        _received(repository, f"e{n}", source_id=f"inv_{n}", minutes=n)
        repository.mark_done("t1", f"e{n}", AT, warnings=warnings)

    every = repository.list_with_warnings("t1")
    defaulted = repository.list_with_warnings("t1", code=WarningCode.DEFAULT_ITEM_USED)

    assert [event.event_id for event in every.items] == ["e1", "e0"]
    assert [event.event_id for event in defaulted.items] == ["e1"]


def test_given_two_failures_of_one_document_and_one_of_another_when_listed_then_each_document_is_there_once(
    main_table: str,
) -> None:
    repository = EventRepository()
    refused = EventFailure.of(ReasonCode.QBO_NOT_CONNECTED, "QuickBooks is not connected")
    for event_id, source_id, minutes in (
        ("webhook", "inv_1", 0),
        ("other", "inv_2", 1),
        ("reconcile", "inv_1", 2),
    ):
        event = _received(repository, event_id, source_id, minutes)
        repository.keep_one_failure(repository.mark_failed("t1", event.event_id, refused, AT), AT)

    listed = repository.list("t1", "failed").items
    superseded = repository.get("t1", "webhook")

    assert sorted(event.event_id for event in listed) == ["other", "reconcile"]
    assert superseded is not None
    assert (superseded.status, superseded.superseded_by) == ("superseded", "reconcile")
    assert [event.event_id for event in repository.list("t1", "superseded").items] == ["webhook"]


def test_given_a_failed_document_when_the_same_event_succeeds_on_retry_then_nothing_is_superseded(
    main_table: str,
) -> None:
    repository = EventRepository()
    _received(repository, "e1")
    failed = repository.mark_failed("t1", "e1", EventFailure.of(ReasonCode.QBO_REJECTED, "refused"), AT)
    repository.keep_one_failure(failed, AT)

    done = repository.mark_done("t1", "e1", AT)
    superseded = repository.release_failure_entry(done, AT)

    assert superseded is None
    assert repository.list("t1", "failed").items == []
    assert repository.list("t1", "superseded").items == []

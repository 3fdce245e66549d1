"""Task events, error translation for Step Functions, and the run view: no AWS, no sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qbosync.qbo.faults import QboServerFault, QboThrottled, QboValidationFault
from qbosync.qbo.governor import GovernorTimeout
from qbosync.source.errors import SourceRejected, SourceUnavailable
from qbosync.store.events import WarningCode
from qbosync.store.runs import EntityCounts, EntitySkips, FailedPage, SkippedSample, SyncRun
from qbosync.sync.bulk.errors import (
    BulkSyncBadEvent,
    BulkSyncPageRejected,
    BulkSyncThrottled,
    BulkSyncTransient,
    step_functions_errors,
)
from qbosync.sync.bulk.models import MarkPageFailedEvent, StepFunctionsError, SyncPageEvent
from qbosync.sync.bulk.service import run_view
from qbosync.sync.bulk.skips import EXPLANATIONS, WARNING_EXPLANATIONS, SkipReason
from qbosync.sync.bulk.tasks import final_status, run_task
from qbosync.sync.records.items import ItemMappingGap

EVENTS = Path(__file__).resolve().parents[2] / "events"
DEFINITION = Path(__file__).resolve().parents[2] / "statemachines" / "bulk_sync.asl.json"


def load_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (QboThrottled("429", status=429), BulkSyncThrottled),
        (GovernorTimeout("budget spent"), BulkSyncThrottled),
        (QboServerFault("503", status=503), BulkSyncTransient),
        (SourceUnavailable("source down"), BulkSyncTransient),
        (QboValidationFault("bad", status=400), BulkSyncPageRejected),
        (SourceRejected("no", source_status=400, source_code="bad"), BulkSyncPageRejected),
        (KeyError("surprise"), BulkSyncPageRejected),
    ],
)
def test_given_a_library_failure_when_a_task_raises_it_then_step_functions_sees_a_named_error_type(
    raised: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as caught, step_functions_errors():
        raise raised

    assert type(raised).__name__ in str(caught.value)


def test_given_the_state_machine_when_read_then_it_retries_exactly_the_retryable_error_types() -> None:
    definition = json.loads(DEFINITION.read_text())
    retried = {
        name for retrier in definition["States"]["Prepare"]["Retry"] for name in retrier["ErrorEquals"]
    }

    assert {"BulkSyncThrottled", "BulkSyncTransient"} <= retried
    assert "BulkSyncPageRejected" not in retried
    assert all(retrier["JitterStrategy"] == "FULL" for retrier in definition["States"]["Prepare"]["Retry"])


def test_given_an_event_for_no_task_when_run_then_it_is_a_bad_event_and_nothing_runs() -> None:
    nothing_called: Any = object()  # any use of a collaborator would fail
    with pytest.raises(BulkSyncBadEvent, match="task"):
        run_task({"task": "format_disk", "tenant_id": "acme", "run_id": "r1"}, nothing_called)


def test_given_the_sample_page_event_when_parsed_then_it_names_the_page_and_the_frozen_config() -> None:
    event = SyncPageEvent.model_validate(load_event("bulk_sync_sync_customer_page.json"))

    assert event.page.page_no == 2 and event.page.limit == 120
    assert event.config.settings.name_collision_policy == "suffix"


def test_given_a_catch_result_when_its_reason_is_read_then_it_is_the_message_without_the_stack() -> None:
    event = MarkPageFailedEvent.model_validate(load_event("bulk_sync_mark_page_failed.json"))

    assert event.error.reason() == (
        "BulkSyncPageRejected: SourceRejected: the source refused GET /products with 400 (page_unreadable)"
    )


def test_given_a_cause_that_is_not_json_when_its_reason_is_read_then_the_text_is_kept() -> None:
    error = StepFunctionsError.model_validate({"Error": "States.Timeout", "Cause": "task timed out"})

    assert error.reason() == "States.Timeout: task timed out"


def _run(**changes: Any) -> SyncRun:
    base = SyncRun(
        run_id="r1", tenant_id="acme", started_at=datetime(2026, 11, 22, tzinfo=UTC), started_by="admin"
    )
    return base.model_copy(update=changes)


def test_given_a_run_half_done_when_viewed_then_the_percentage_counts_done_and_failed_pages() -> None:
    failed = FailedPage(
        entity="products", page_no=2, reason="x", failed_at=datetime(2026, 11, 22, tzinfo=UTC)
    )
    view = run_view(_run(total_pages=8, done_pages=3, failed_pages=[failed]))

    assert view.percentage == 50.0


def test_given_counts_per_entity_when_viewed_then_totals_add_them_up() -> None:
    view = run_view(
        _run(
            counts={
                "customers": EntityCounts(matched=2, created=5, skipped=1),
                "products": EntityCounts(created=3, failed=1),
            }
        )
    )

    assert view.totals == EntityCounts(matched=2, created=8, skipped=1, failed=1)


def test_given_a_finished_run_when_viewed_then_it_is_at_100_percent() -> None:
    assert run_view(_run(status="SUCCEEDED_WITH_ERRORS", total_pages=4, done_pages=3)).percentage == 100.0


def _skips(code: str, count: int = 1, entity: str = "products") -> EntitySkips:
    return EntitySkips(
        entity=entity, code=code, count=count, sample=[SkippedSample(source_id="prd_1", message="why")]
    )


@pytest.mark.parametrize(
    ("skips", "failed", "expected"),
    [
        ([], 0, "SUCCEEDED"),
        ([_skips("already_linked", 40), _skips("inactive_in_source", 3)], 0, "SUCCEEDED"),
        ([_skips("no_product_type_mapping", 60)], 0, "SUCCEEDED_WITH_WARNINGS"),
        ([_skips("a_code_of_a_newer_version")], 0, "SUCCEEDED_WITH_WARNINGS"),
        ([_skips("no_gl_code_mapping")], 1, "SUCCEEDED_WITH_ERRORS"),
    ],
)
def test_given_what_a_run_skipped_and_failed_when_it_finishes_then_its_status_says_so(
    skips: list[EntitySkips], failed: int, expected: str
) -> None:
    run = _run(
        skips=skips, counts={"products": EntityCounts(skipped=sum(s.count for s in skips), failed=failed)}
    )

    assert final_status(run) == expected


def test_given_a_run_with_skips_when_viewed_then_each_reason_has_its_count_explanation_and_sample() -> None:
    view = run_view(_run(status="SUCCEEDED_WITH_WARNINGS", skips=[_skips("no_product_type_mapping", 60)]))

    (skips,) = view.skips
    assert (skips.entity, skips.code, skips.count, skips.warns) == (
        "products",
        SkipReason.NO_PRODUCT_TYPE_MAPPING,
        60,
        True,
    )
    assert skips.explanation == EXPLANATIONS[SkipReason.NO_PRODUCT_TYPE_MAPPING]
    assert [record.source_id for record in skips.sample] == ["prd_1"]


def test_given_every_skip_reason_and_mapping_gap_then_each_has_an_explanation_and_a_skip_code() -> None:
    assert set(EXPLANATIONS) == set(SkipReason)
    assert all(SkipReason.for_mapping_gap(gap).value == gap.value for gap in ItemMappingGap)


@pytest.mark.parametrize(
    ("warnings", "failed", "expected"),
    [
        ([_skips("name_suffixed", 2, entity="customers")], 0, "SUCCEEDED_WITH_WARNINGS"),
        ([_skips("field_truncated", entity="customers")], 1, "SUCCEEDED_WITH_ERRORS"),
    ],
)
def test_given_records_created_with_warnings_when_the_run_finishes_then_its_status_says_so(
    warnings: list[EntitySkips], failed: int, expected: str
) -> None:
    run = _run(
        skips=[_skips("already_linked", 40)],
        warnings=warnings,
        counts={"customers": EntityCounts(created=5, failed=failed)},
    )

    assert final_status(run) == expected


def test_given_a_run_with_warnings_when_viewed_then_each_code_has_its_count_explanation_and_sample() -> None:
    view = run_view(
        _run(status="SUCCEEDED_WITH_WARNINGS", warnings=[_skips("name_truncated", 3, entity="products")])
    )

    (warnings,) = view.warnings
    assert (warnings.entity, warnings.code, warnings.count) == ("products", WarningCode.NAME_TRUNCATED, 3)
    assert warnings.explanation == WARNING_EXPLANATIONS[WarningCode.NAME_TRUNCATED]
    assert [(record.source_id, record.message) for record in warnings.sample] == [("prd_1", "why")]
    assert view.skips == []


def test_given_the_warnings_a_bulk_sync_gives_then_each_has_an_explanation() -> None:
    assert set(WARNING_EXPLANATIONS) == {
        WarningCode.NAME_SUFFIXED,
        WarningCode.NAME_TRUNCATED,
        WarningCode.FIELD_TRUNCATED,
    }

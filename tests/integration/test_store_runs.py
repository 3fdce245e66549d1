"""RunRepository against moto: one active run per tenant, idempotent page counting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qbosync.store.runs import (
    EntityCounts,
    EntitySkips,
    RunAlreadyActive,
    RunAlreadyFinished,
    RunNotFound,
    RunRepository,
    SkippedSample,
    SkipTally,
    SyncRun,
)
from qbosync.store.table import MainTable, run_sk, tenant_pk

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def a_run(run_id: str = "run-1", tenant_id: str = "t1") -> SyncRun:
    return SyncRun(run_id=run_id, tenant_id=tenant_id, started_at=AT, started_by="admin-1")


def test_given_a_running_run_when_another_starts_then_run_already_active_names_it(main_table: str) -> None:
    repository = RunRepository()
    repository.start(a_run("run-1"))

    with pytest.raises(RunAlreadyActive) as refused:
        repository.start(a_run("run-2"))

    assert refused.value.active_run_id == "run-1"
    assert repository.get("t1", "run-2") is None


def test_given_a_finished_run_when_another_starts_then_it_is_allowed(main_table: str) -> None:
    repository = RunRepository()
    repository.start(a_run("run-1"))
    repository.finish("t1", "run-1", "SUCCEEDED", LATER)

    started = repository.start(a_run("run-2"))

    assert started.status == "RUNNING"
    assert repository.active_run_id("t1") == "run-2"


def test_given_runs_of_two_tenants_when_both_start_then_neither_blocks_the_other(main_table: str) -> None:
    repository = RunRepository()
    repository.start(a_run("run-1", "t1"))

    repository.start(a_run("run-1", "t2"))

    assert repository.active_run_id("t2") == "run-1"


def test_given_a_page_result_when_retried_then_it_is_counted_once(main_table: str) -> None:
    repository = RunRepository()
    repository.start(a_run())
    counts = EntityCounts(matched=10, created=15, skipped=2, failed=3)

    first = repository.add_page_result("t1", "run-1", "customer", counts, page_no=1)
    retried = repository.add_page_result("t1", "run-1", "customer", counts, page_no=1)
    repository.add_page_result("t1", "run-1", "customer", EntityCounts(created=5), page_no=2)
    repository.add_page_result("t1", "run-1", "item", EntityCounts(matched=4), page_no=1)

    run = repository.get("t1", "run-1")
    assert (first, retried) == (True, False)
    assert run is not None
    assert run.counts == {
        "customer": EntityCounts(matched=10, created=20, skipped=2, failed=3),
        "item": EntityCounts(matched=4),
    }
    assert run.done_pages == 3


def test_given_pages_with_skips_when_counted_then_skips_add_up_by_reason_and_the_first_sample_stays(
    main_table: str,
) -> None:
    repository = RunRepository()
    repository.start(a_run())
    first_page = [
        SkipTally(
            code="no_product_type_mapping",
            count=7,
            sample=[SkippedSample(source_id=f"prd_{n}", message="no mapping") for n in range(1, 8)],
        )
    ]
    second_page = [
        SkipTally(
            code="no_product_type_mapping", count=2, sample=[SkippedSample(source_id="prd_9", message="x")]
        ),
        SkipTally(
            code="inactive_in_source", count=1, sample=[SkippedSample(source_id="prd_8", message="off")]
        ),
    ]

    repository.add_page_result("t1", "run-1", "products", EntityCounts(skipped=7), 1, skips=first_page)
    repository.add_page_result("t1", "run-1", "products", EntityCounts(skipped=7), 1, skips=first_page)
    repository.add_page_result("t1", "run-1", "products", EntityCounts(skipped=3), 2, skips=second_page)

    run = repository.get("t1", "run-1")
    assert run is not None
    assert run.counts["products"].skipped == 10
    assert run.skips == [
        EntitySkips(
            entity="products",
            code="no_product_type_mapping",
            count=9,
            sample=[SkippedSample(source_id=f"prd_{n}", message="no mapping") for n in range(1, 6)],
        ),
        EntitySkips(
            entity="products",
            code="inactive_in_source",
            count=1,
            sample=[SkippedSample(source_id="prd_8", message="off")],
        ),
    ]


def test_given_pages_with_warnings_when_counted_then_they_add_up_by_code_apart_from_the_skips(
    main_table: str,
) -> None:
    repository = RunRepository()
    repository.start(a_run())
    suffixed = SkipTally(
        code="name_suffixed", count=1, sample=[SkippedSample(source_id="cus_1", message="is 'A (C)' in QBO")]
    )
    cut = SkipTally(
        code="field_truncated", count=2, sample=[SkippedSample(source_id="cus_2", message="company_name")]
    )
    skipped = SkipTally(
        code="name_taken", count=1, sample=[SkippedSample(source_id="cus_3", message="taken")]
    )

    repository.add_page_result(
        "t1", "run-1", "customers", EntityCounts(created=3), 1, skips=[skipped], warnings=[suffixed, cut]
    )
    repository.add_page_result(
        "t1", "run-1", "customers", EntityCounts(created=3), 1, skips=[skipped], warnings=[suffixed, cut]
    )
    repository.add_page_result("t1", "run-1", "customers", EntityCounts(created=1), 2, warnings=[suffixed])

    run = repository.get("t1", "run-1")
    assert run is not None
    assert [(w.entity, w.code, w.count, [s.source_id for s in w.sample]) for w in run.warnings] == [
        ("customers", "field_truncated", 2, ["cus_2"]),
        ("customers", "name_suffixed", 2, ["cus_1"]),
    ]
    assert [(s.code, s.count) for s in run.skips] == [("name_taken", 1)]
    assert run.counts["customers"].created == 4


def test_given_a_run_stored_before_skip_reasons_when_read_then_it_has_no_skips(main_table: str) -> None:
    MainTable().put(
        {
            "pk": tenant_pk("t1"),
            "sk": run_sk("old-run"),
            "item_type": "run",
            "run_id": "old-run",
            "tenant_id": "t1",
            "status": "SUCCEEDED",
            "started_at": AT.isoformat(),
            "started_by": "admin-1",
            "count#products#skipped": 60,
        }
    )

    run = RunRepository().get("t1", "old-run")

    assert run is not None and run.status == "SUCCEEDED"
    assert run.counts["products"].skipped == 60 and run.skips == []


def test_given_a_failed_page_when_it_later_succeeds_then_it_leaves_the_failed_list(main_table: str) -> None:
    repository = RunRepository()
    repository.start(a_run())
    repository.mark_page_failed("t1", "run-1", "customer", 2, reason="QBO 500", at=AT)
    failed = repository.get("t1", "run-1")

    repository.add_page_result("t1", "run-1", "customer", EntityCounts(created=1), page_no=2)

    assert failed is not None and [(p.entity, p.page_no, p.reason) for p in failed.failed_pages] == [
        ("customer", 2, "QBO 500")
    ]
    succeeded = repository.get("t1", "run-1")
    assert succeeded is not None and succeeded.failed_pages == []


def test_given_a_counted_page_when_marked_failed_then_nothing_changes(main_table: str) -> None:
    repository = RunRepository()
    repository.start(a_run())
    repository.add_page_result("t1", "run-1", "customer", EntityCounts(created=1), page_no=1)

    marked = repository.mark_page_failed("t1", "run-1", "customer", 1, reason="late failure", at=AT)

    run = repository.get("t1", "run-1")
    assert marked is False and run is not None and run.failed_pages == []


def test_given_an_unknown_run_when_adding_a_page_then_run_not_found(main_table: str) -> None:
    with pytest.raises(RunNotFound):
        RunRepository().add_page_result("t1", "nope", "customer", EntityCounts(), page_no=1)


def test_given_a_run_when_phase_and_pages_are_set_then_they_are_visible(main_table: str) -> None:
    repository = RunRepository()
    repository.start(a_run())

    run = repository.set_phase("t1", "run-1", "customers", total_pages=7, execution_arn="arn:aws:states:x")

    assert (run.phase, run.total_pages, run.execution_arn) == ("customers", 7, "arn:aws:states:x")


def test_given_a_finished_run_when_finished_again_then_same_status_is_a_no_op_and_another_is_refused(
    main_table: str,
) -> None:
    repository = RunRepository()
    repository.start(a_run())
    finished = repository.finish("t1", "run-1", "SUCCEEDED_WITH_ERRORS", LATER)

    again = repository.finish("t1", "run-1", "SUCCEEDED_WITH_ERRORS", LATER)

    assert finished.status == again.status == "SUCCEEDED_WITH_ERRORS" and again.finished_at == LATER
    with pytest.raises(RunAlreadyFinished):
        repository.finish("t1", "run-1", "FAILED", LATER)


def test_given_three_runs_when_listed_then_newest_id_first_and_paged(main_table: str) -> None:
    repository = RunRepository()
    for run_id in ("01A", "01B", "01C"):
        repository.start(a_run(run_id))
        repository.finish("t1", run_id, "SUCCEEDED", LATER)

    first = repository.list("t1", limit=2)
    rest = repository.list("t1", limit=2, cursor=first.cursor)

    assert [r.run_id for r in first.items + rest.items] == ["01C", "01B", "01A"]

"""A run whose execution is stopped half-way and resumed ends as an uninterrupted run does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from qbosync.store.config import SettingsRepository
from qbosync.store.executions import BulkSyncExecutions
from qbosync.store.runs import EntityCounts, RunRepository, SyncRun
from qbosync.sync import wiring
from qbosync.sync.bulk.tasks import run_task
from tests.support.bulk_world import BulkWorld, audit_record, bulk_world, provision_tenant

TENANT = "resumer"
CUSTOMERS, PRODUCTS = 400, 100


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[BulkWorld]:
    with bulk_world(monkeypatch, [TENANT], CUSTOMERS, PRODUCTS) as built:
        provision_tenant(built, TENANT, next(iter(built.qbo.companies)))
        built.qbo.clock.advance(2.0)  # QBO stamps whole seconds; what exists now predates the run
        yield built


def uninterrupted_outcome(world: BulkWorld) -> dict[str, EntityCounts]:
    """What one uninterrupted run yields here (no record of the source exists in QBO yet)."""
    customers = world.source_customers(TENANT)
    products = world.source_products(TENANT)
    active = [c for c in customers if c.active and not c.deleted]
    syncable = [p for p in products if p.active and not p.deleted and p.product_type != "discount"]
    qbo_customers = [row for row in world.qbo_rows(TENANT, "Customer") if row.get("Active", True)]
    qbo_items = [
        row
        for row in world.qbo_rows(TENANT, "Item")
        if row.get("Type") in {"Service", "NonInventory", "Inventory"} and row.get("Active", True)
    ]
    return {
        "customers": EntityCounts(created=len(active), skipped=len(customers) - len(active)),
        "products": EntityCounts(created=len(syncable), skipped=len(products) - len(syncable)),
        "qbo_customers": EntityCounts(created=len(qbo_customers)),
        "qbo_items": EntityCounts(matched=len(qbo_items)),
    }


def run_first_states_then_stop(world: BulkWorld, run_id: str, pages_done: list[int]) -> None:
    """What an execution stopped half-way leaves behind: prepared, listed, some customer pages synced.

    moto 5.2.5 cannot stop an execution inside an inline Map (its engine raises and the execution stays
    RUNNING), so the stopped execution's work is done by calling the task handler's service directly.
    """
    deps = wiring.bulk_sync_dependencies()
    prepared = {
        "config": run_task({"task": "prepare", "tenant_id": TENANT, "run_id": run_id}, deps)["config"]
    }
    pages = run_task({"task": "list_pages", "tenant_id": TENANT, "run_id": run_id, **prepared}, deps)
    for page in pages["customers"]:
        if page["page_no"] in pages_done:
            run_task(
                {
                    "task": "sync_customer_page",
                    "tenant_id": TENANT,
                    "run_id": run_id,
                    **prepared,
                    "page": page,
                },
                deps,
            )


def test_given_a_run_stopped_half_way_when_resumed_then_it_ends_as_an_uninterrupted_run_does(
    world: BulkWorld,
) -> None:
    expected = uninterrupted_outcome(world)
    qbo_customers_before = len(world.qbo_rows(TENANT, "Customer"))
    run_id = "20261122T050000-halfway"
    RunRepository().start(
        SyncRun(run_id=run_id, tenant_id=TENANT, started_at=datetime.now(UTC), started_by="admin-sub-1")
    )
    run_first_states_then_stop(world, run_id, pages_done=[1, 3, 4])
    assert world.run(TENANT, run_id).done_pages == 3

    status, resumed = world.api("POST", f"/tenants/{TENANT}/sync/runs/{run_id}/resume", TENANT)
    run = world.wait_until_finished(TENANT, run_id)

    assert status == 202 and resumed["run_id"] == run_id
    # The sandbox's discount products have no product-types mapping: skipped with that reason, a warning.
    assert run.status == "SUCCEEDED_WITH_WARNINGS"
    assert run.counts == expected
    discounts = [
        p
        for p in world.source_products(TENANT)
        if p.active and not p.deleted and p.product_type == "discount"
    ]
    skips = {(skips.entity, skips.code): skips.count for skips in run.skips}
    assert skips[("products", "no_product_type_mapping")] == len(discounts)
    assert (
        sum(count for (entity, _), count in skips.items() if entity == "products")
        == expected["products"].skipped
    )
    assert len(world.qbo_rows(TENANT, "Customer")) == qbo_customers_before + expected["customers"].created
    assert (
        len(world.links(TENANT, "Customer"))
        == expected["customers"].created + expected["qbo_customers"].created
    )


def test_given_a_finished_run_when_resumed_then_409_and_nothing_starts(world: BulkWorld) -> None:
    runs = RunRepository()
    runs.start(SyncRun(run_id="done-run", tenant_id=TENANT, started_at=datetime.now(UTC), started_by="admin"))
    runs.finish(TENANT, "done-run", "SUCCEEDED", datetime.now(UTC))

    status, body = world.api("POST", f"/tenants/{TENANT}/sync/runs/done-run/resume", TENANT)

    assert status == 409 and body["error"]["code"] == "run_not_resumable"
    assert world.executions() == []


def test_given_preflight_failing_when_the_run_is_prepared_then_it_ends_failed_with_the_reason(
    world: BulkWorld,
) -> None:
    settings = SettingsRepository()
    stored = settings.get(TENANT)
    assert stored is not None
    broken = {**stored.document, "source_defaults": {"new_customer_bill_profile_id": None}}
    settings.replace(TENANT, broken, stored.version, audit_record("settings"))
    runs = RunRepository()
    runs.start(SyncRun(run_id="doomed", tenant_id=TENANT, started_at=datetime.now(UTC), started_by="admin"))
    execution_arn = BulkSyncExecutions().start("doomed", {"tenant_id": TENANT, "run_id": "doomed"})
    runs.set_phase(TENANT, "doomed", "queued", execution_arn=execution_arn)

    run = world.wait_until_finished(TENANT, "doomed")

    assert run.status == "FAILED"
    assert [(page.entity, page.page_no) for page in run.failed_pages] == [("run", 1)]
    assert "new_customer_bill_profile" in run.failed_pages[0].reason
    assert runs.active_run_id(TENANT) is None
    assert world.source_customers(TENANT) and world.links(TENANT, "Customer") == []

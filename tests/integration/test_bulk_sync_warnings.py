"""The initial sync's improvisations (a suffixed name, a field cut to QBO's length) are warnings of the
run: counted by code with a few records on the run view, and the run ends SUCCEEDED_WITH_WARNINGS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from qbosync.store.runs import RunRepository, SyncRun
from qbosync.sync import wiring
from qbosync.sync.bulk.tasks import run_task
from tests.support.bulk_world import BulkWorld, bulk_world, provision_tenant

TENANT = "improviser"
RUN_ID = "20261122T060000-warnings"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[BulkWorld]:
    with bulk_world(monkeypatch, [TENANT], 30, 5, execute=False) as built:
        provision_tenant(built, TENANT, next(iter(built.qbo.companies)))
        built.qbo.clock.advance(2.0)  # QBO stamps whole seconds; what exists now predates the run
        yield built


def sync_customers_and_finish(world: BulkWorld) -> dict[str, object]:
    """The state machine's customer states, run by calling its task handler's service directly."""
    RunRepository().start(
        SyncRun(run_id=RUN_ID, tenant_id=TENANT, started_at=datetime.now(UTC), started_by="admin-sub-1")
    )
    deps = wiring.bulk_sync_dependencies()
    ids = {"tenant_id": TENANT, "run_id": RUN_ID}
    prepared = {"config": run_task({"task": "prepare", **ids}, deps)["config"]}
    pages = run_task({"task": "list_pages", **ids, **prepared}, deps)
    for page in pages["customers"]:
        run_task({"task": "sync_customer_page", **ids, **prepared, "page": page}, deps)
    return run_task({"task": "finish", **ids}, deps)


def test_given_a_vendor_holding_a_customers_name_when_the_initial_sync_runs_then_the_run_warns_of_the_suffix(
    world: BulkWorld,
) -> None:
    first = next(c for c in world.source_customers(TENANT) if c.active and not c.deleted)
    world.qbo.companies[world.realm_by_tenant[TENANT]].create("Vendor", {"DisplayName": first.display_name})

    finished = sync_customers_and_finish(world)
    status, view = world.api("GET", f"/tenants/{TENANT}/sync/runs/{RUN_ID}", TENANT)

    assert finished["status"] == "SUCCEEDED_WITH_WARNINGS"
    assert status == 200 and view["status"] == "SUCCEEDED_WITH_WARNINGS"
    (warning,) = view["warnings"]
    assert (warning["entity"], warning["code"], warning["count"]) == ("customers", "name_suffixed", 1)
    assert [record["source_id"] for record in warning["sample"]] == [first.id]
    assert f"'{first.display_name} (C)'" in warning["sample"][0]["message"]
    assert "suffix" in warning["explanation"]
    assert all(skip["code"] != "name_suffixed" for skip in view["skips"])


def test_given_customers_created_as_the_source_has_them_when_the_initial_sync_runs_then_no_warning(
    world: BulkWorld,
) -> None:
    finished = sync_customers_and_finish(world)
    _status, view = world.api("GET", f"/tenants/{TENANT}/sync/runs/{RUN_ID}", TENANT)

    assert view["warnings"] == []
    assert finished["status"] == "SUCCEEDED"  # inactive customers are skipped, which does not warn

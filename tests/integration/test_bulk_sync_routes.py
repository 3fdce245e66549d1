"""The run routes refuse what cannot run with a clear 4xx and start nothing (no run, no execution)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qbosync.store.runs import RunRepository
from tests.support.bulk_world import BulkWorld, bulk_world, provision_tenant

READY, UNCONNECTED, NOT_READY, UNKNOWN = "ready", "unconnected", "notready", "ghost"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[BulkWorld]:
    with bulk_world(monkeypatch, [READY, UNCONNECTED, NOT_READY], 10, 10, execute=False) as built:
        realms = list(built.qbo.companies)
        provision_tenant(built, READY, realms[0])
        provision_tenant(built, UNCONNECTED, realms[1], connected=False)
        provision_tenant(
            built,
            NOT_READY,
            realms[2],
            source_defaults={"new_customer_bill_profile_id": None, "unmatched_qbo_item_product_id": None},
        )
        yield built


def test_given_an_unknown_tenant_when_a_sync_is_started_then_404_and_nothing_starts(world: BulkWorld) -> None:
    status, body = world.api("POST", f"/tenants/{UNKNOWN}/sync/initial", UNKNOWN)

    assert status == 404 and body["error"]["code"] == "unknown_tenant"
    assert world.executions() == []


def test_given_a_tenant_without_connection_when_a_sync_is_started_then_409_not_connected(
    world: BulkWorld,
) -> None:
    status, body = world.api("POST", f"/tenants/{UNCONNECTED}/sync/initial", UNCONNECTED)

    assert status == 409 and body["error"]["code"] == "not_connected"
    assert world.executions() == []
    assert RunRepository().active_run_id(UNCONNECTED) is None


def test_given_failing_preflight_when_a_sync_is_started_then_422_with_the_failing_checks(
    world: BulkWorld,
) -> None:
    status, body = world.api("POST", f"/tenants/{NOT_READY}/sync/initial", NOT_READY)

    assert status == 422 and body["error"]["code"] == "preflight_failed"
    assert [check["id"] for check in body["error"]["details"]] == ["new_customer_bill_profile"]
    assert world.executions() == []
    assert RunRepository().active_run_id(NOT_READY) is None


def test_given_a_run_in_progress_when_another_is_started_then_409_naming_the_active_run(
    world: BulkWorld,
) -> None:
    first_status, first = world.api("POST", f"/tenants/{READY}/sync/initial", READY)

    status, body = world.api("POST", f"/tenants/{READY}/sync/initial", READY)

    assert first_status == 202
    assert status == 409 and body["error"]["code"] == "run_active"
    assert body["error"]["details"] == [{"active_run_id": first["run_id"]}]
    assert len(world.executions()) == 1


def test_given_a_started_run_when_it_is_read_then_it_shows_status_phase_counts_and_percentage(
    world: BulkWorld,
) -> None:
    _status, started = world.api("POST", f"/tenants/{READY}/sync/initial", READY)

    status, view = world.api("GET", started["status_url"], READY)

    assert status == 200
    assert view["run_id"] == started["run_id"] and view["status"] == "RUNNING"
    assert view["phase"] == "queued" and view["percentage"] == 0.0
    assert view["totals"] == {"matched": 0, "created": 0, "skipped": 0, "failed": 0}


def test_given_an_unknown_run_when_it_is_read_then_404(world: BulkWorld) -> None:
    status, body = world.api("GET", f"/tenants/{READY}/sync/runs/nosuchrun", READY)

    assert status == 404 and body["error"]["code"] == "run_not_found"


def test_given_another_tenants_token_when_a_sync_is_started_then_403_and_nothing_starts(
    world: BulkWorld,
) -> None:
    status, _body = world.api("POST", f"/tenants/{READY}/sync/initial", UNCONNECTED)

    assert status == 403
    assert world.executions() == []

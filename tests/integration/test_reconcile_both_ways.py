"""Scheduled reconciliation: missed webhooks on either side are caught, checkpoints move only on success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.scheduled_worker.app import lambda_handler as scheduled_worker_handler
from qbosync.source.errors import SourceUnavailable
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.connections import ConnectionRepository
from qbosync.store.links import LinkRepository
from qbosync.sync.fanout import ScheduledJob
from qbosync.sync.reconcile import QBO_CHECKPOINT, SOURCE_CHECKPOINT
from tests.support.pull_world import (  # noqa: F401 (fixture)
    TENANT,
    LambdaContextStub,
    PullWorld,
    pull_world_fixture,
    sample_event,
)
from tests.support.schedules import work, work_event, worker


def _after_a_previous_run(world: PullWorld, at: datetime | None = None) -> datetime:
    """Checkpoints as a previous reconciliation left them; QBO's clock moves on so later edits are newer."""
    moment = at or datetime.now(UTC)
    CheckpointRepository().put(TENANT, QBO_CHECKPOINT, moment)
    CheckpointRepository().put(TENANT, SOURCE_CHECKPOINT, moment)
    world.qbo_http.post("/_sandbox/clock", json={"advance_seconds": 5}).raise_for_status()
    return moment


def _source_change(world: PullWorld, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A change in the source whose webhook is dropped on purpose."""
    response = world.source_http.request(
        method, f"/_sandbox/tenants/{TENANT}/{path}?deliver=false", json=body
    )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _qbo_customers_by_name(world: PullWorld) -> dict[str, dict[str, Any]]:
    company = world.qbo_sandbox.companies[world.realm_id]
    return {row["DisplayName"]: row for row in company.records["Customer"].values()}


def test_given_webhooks_dropped_on_both_sides_when_reconciled_then_both_sides_are_equal_again(
    pull_world: PullWorld,
) -> None:
    _after_a_previous_run(pull_world)
    pull_world.hook.drop_all = True
    in_qbo = pull_world.qbo_customer(DisplayName="Missed In QBO")
    pull_world.deliver_qbo_webhooks()
    in_source = _source_change(pull_world, "POST", "customers", {"display_name": "Missed In Source"})

    report = pull_world.reconciler().reconcile_tenant(TENANT)

    pulled = pull_world.link_of_qbo("Customer", in_qbo["Id"])
    assert pulled is not None
    assert pull_world.source().get_customer(pulled.source_id).display_name == "Missed In QBO"
    pushed = LinkRepository().get(TENANT, "Customer", in_source["id"])
    assert pushed is not None
    assert _qbo_customers_by_name(pull_world)["Missed In Source"]["Id"] == pushed.qbo_id
    assert (report.qbo_mode, report.customers_synced) == ("cdc", 1)
    assert pull_world.hook.dropped == 1


def test_given_a_source_invoice_webhook_dropped_when_reconciled_then_the_invoice_is_queued_for_the_push(
    pull_world: PullWorld,
) -> None:
    _after_a_previous_run(pull_world)
    invoice = pull_world.source().list_invoices().items[0]
    _source_change(pull_world, "PUT", f"invoices/{invoice.id}", {"due_date": "2026-12-31"})

    report = pull_world.reconciler().reconcile_tenant(TENANT)

    [message] = pull_world.push_messages()
    assert (message["kind"], message["source_id"], message["source_version"]) == (
        "invoice",
        invoice.id,
        invoice.version + 1,
    )
    assert report.pushes_queued == 1


def test_given_a_reconciled_state_when_reconciled_again_then_nothing_is_written_anywhere(
    pull_world: PullWorld,
) -> None:
    _after_a_previous_run(pull_world)
    pull_world.qbo_customer(DisplayName="Already Here")
    _source_change(pull_world, "POST", "customers", {"display_name": "Also Already Here"})
    pull_world.reconciler().reconcile_tenant(TENANT)
    pull_world.push_messages()
    writes, creations = pull_world.qbo_writes(), pull_world.source_creations()

    pull_world.reconciler().reconcile_tenant(TENANT)

    assert (pull_world.qbo_writes(), pull_world.source_creations()) == (writes, creations)
    assert pull_world.push_messages() == []


def test_given_the_source_fails_when_reconciled_then_its_checkpoint_stays_where_it_was(
    pull_world: PullWorld,
) -> None:
    before = _after_a_previous_run(pull_world)
    pull_world.source_http.post("/_sandbox/faults", json={"status": 503, "count": 50}).raise_for_status()

    with pytest.raises(SourceUnavailable):
        pull_world.reconciler().reconcile_tenant(TENANT)

    assert CheckpointRepository().get(TENANT, SOURCE_CHECKPOINT) == before


def test_given_a_checkpoint_older_than_cdc_allows_when_reconciled_then_changes_come_from_paged_queries(
    pull_world: PullWorld,
) -> None:
    _after_a_previous_run(pull_world, at=datetime.now(UTC) - timedelta(days=40))
    pull_world.hook.drop_all = True
    in_qbo = pull_world.qbo_customer(DisplayName="Found By Query")

    report = pull_world.reconciler().reconcile_tenant(TENANT)

    assert report.qbo_mode == "query"
    assert pull_world.link_of_qbo("Customer", in_qbo["Id"]) is not None
    assert CheckpointRepository().get(TENANT, QBO_CHECKPOINT) > datetime.now(UTC) - timedelta(minutes=1)  # type: ignore[operator]


def test_given_a_reconcile_message_when_the_scheduled_worker_runs_it_then_the_tenant_is_reconciled(
    pull_world: PullWorld,
) -> None:
    _after_a_previous_run(pull_world)
    pull_world.hook.drop_all = True
    in_qbo = pull_world.qbo_customer(DisplayName="Scheduled Catch")
    reconciler = pull_world.reconciler()

    reply = scheduled_worker_handler(
        work_event(work(ScheduledJob.RECONCILE, TENANT)),
        LambdaContextStub(),
        worker=worker({ScheduledJob.RECONCILE: reconciler.reconcile_tenant}),
    )

    assert reply == {"batchItemFailures": []}
    assert pull_world.link_of_qbo("Customer", in_qbo["Id"]) is not None
    connection = ConnectionRepository().get(TENANT)
    assert connection is not None and connection.last_reconciled_at is not None

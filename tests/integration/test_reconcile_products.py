"""Reconciliation queues source product changes a webhook missed for the push, as it does documents."""

from __future__ import annotations

from datetime import UTC, datetime

from qbosync.store.checkpoints import CheckpointRepository
from qbosync.sync.reconcile import QBO_CHECKPOINT, SOURCE_CHECKPOINT
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def test_given_a_product_edit_whose_webhook_was_dropped_when_reconciled_then_it_is_queued_for_the_push(
    pull_world: PullWorld,
) -> None:
    moment = datetime.now(UTC)
    CheckpointRepository().put(TENANT, QBO_CHECKPOINT, moment)
    CheckpointRepository().put(TENANT, SOURCE_CHECKPOINT, moment)
    product = pull_world.source().list_products().items[0]
    pull_world.source_http.put(
        f"/_sandbox/tenants/{TENANT}/products/{product.id}?deliver=false", json={"unit_price": "99.00"}
    ).raise_for_status()

    report = pull_world.reconciler().reconcile_tenant(TENANT)

    [message] = pull_world.push_messages()
    assert (message["kind"], message["source_id"], message["source_version"], message["action"]) == (
        "product",
        product.id,
        product.version + 1,
        "created",
    )
    assert message["event_id"] == f"reconcile-product-{product.id}-v{product.version + 1}"
    assert report.pushes_queued == 1

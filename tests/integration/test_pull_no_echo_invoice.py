"""No echo for documents: an invoice the push wrote comes back as QBO webhooks; nothing more is written."""

from __future__ import annotations

from datetime import UTC, datetime

from qbosync.sync.configuration import QboDefaults
from qbosync.sync.push.service import PushService
from qbosync.sync.records.messages import PushMessage
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _push_service(world: PullWorld) -> PushService:
    """The push worker's service, configured to put unmatched products on one QBO service item."""
    item_id = world.service_item_id()
    world.settings = world.settings.model_copy(
        update={
            "qbo_defaults": QboDefaults(
                unmatched_one_time_item_id=item_id, unmatched_recurring_item_id=item_id
            )
        }
    )
    world.store_settings()
    return world.push_service()


def test_given_an_invoice_the_push_wrote_when_its_qbo_webhooks_are_pulled_then_nothing_is_written_anywhere(
    pull_world: PullWorld,
) -> None:
    invoice = pull_world.source().list_invoices().items[0]
    now = _utc_now()
    outcome = _push_service(pull_world).apply(
        PushMessage(
            event_id="evt-invoice-created",
            tenant_id=TENANT,
            kind="invoice",
            action="created",
            source_id=invoice.id,
            source_version=invoice.version,
            occurred_at=now,
            received_at=now,
        )
    )
    assert outcome.status == "done", outcome.reason
    before = (pull_world.qbo_writes(), pull_world.source_creations())

    pull_world.deliver_qbo_webhooks()
    assert pull_world.run_pull_worker() == []

    assert pull_world.hook.replies == [200]
    assert (pull_world.qbo_writes(), pull_world.source_creations()) == before
    pulled = {event.kind for event in pull_world.events("done") if event.kind.startswith("qbo.")}
    assert "qbo.invoice" in pulled
    assert not [event for event in pull_world.events("failed") if event.kind.startswith("qbo.")]

"""Stored-data versions: every item qbosync writes carries ``schema_version``, and today's code reads the
items (and the queued messages) the previous version left behind, losing and misreading nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from qbosync.settings import get_settings
from qbosync.store.aws import dynamodb_client
from qbosync.store.checkpoints import CheckpointRepository, WebhookMarks
from qbosync.store.config import ReferenceCacheRepository
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.events import EventFailure, EventRepository, ReasonCode
from qbosync.store.governor import DynamoGovernorStore
from qbosync.store.links import LinkState
from qbosync.store.oauth_states import OAuthStateRepository
from qbosync.store.runs import RunRepository, SyncRun
from qbosync.store.schema import SCHEMA_ATTRIBUTE, SCHEMA_VERSION
from qbosync.store.table import MainTable, deserialize, serialize
from qbosync.store.tenants import TenantRepository
from tests.support.push_world import PushWorld, push_world

NOW = datetime.now(UTC)


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure()
        yield built


def _every_item() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": get_settings().table_name}
    while True:
        page = dynamodb_client().scan(**kwargs)
        items += [deserialize(raw) for raw in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _as_previous_version(item: dict[str, Any]) -> dict[str, Any]:
    """The item as version 1 stored it: no schema version; events with their code in ``reason``,
    links of a voided or deleted record with the state in ``content_hash``."""
    old = {name: value for name, value in item.items() if name != SCHEMA_ATTRIBUTE}
    if old.get("item_type") == "event" and old.get("status") == "failed":
        old.pop("reason_code")
        old["reason"] = "retrying:QboServerFault" if item["reason_code"] == "retrying" else old["reason"]
    if old.get("item_type") == "link" and old.get("state") in ("voided", "deleted"):
        old["content_hash"] = f"state:{old.pop('state')}"
    return old


def _write_every_other_kind(world: PushWorld) -> None:
    """Items of the kinds the push flow does not write, through their repositories."""
    ConnectionRepository().record_connected(
        Connection(tenant_id=world.tenant_id, realm_id=world.realm_id, connected_by="admin", connected_at=NOW)
    )
    OAuthStateRepository().save(
        "nonce-1", world.tenant_id, "admin", NOW + timedelta(minutes=10), browser_hash="b"
    )
    CheckpointRepository().put(world.tenant_id, "qbo", NOW)
    WebhookMarks().mark_queued(["mark-1"], NOW.timestamp())
    RunRepository().start(
        SyncRun(run_id="run-1", tenant_id=world.tenant_id, started_at=NOW, started_by="admin")
    )
    ReferenceCacheRepository().put(world.tenant_id, "accounts", [{"Id": "1"}], NOW.timestamp() + 600)
    governor = DynamoGovernorStore(window_seconds=60)
    governor.try_count_request(world.realm_id, 1, 500, batch=False, batch_limit=40)
    governor.try_acquire_slot(world.realm_id, 0, "holder-1", NOW.timestamp(), 30)
    governor.set_penalty(world.realm_id, NOW.timestamp() + 5)


def _reads(world: PushWorld, invoice_id: str, payment_id: str) -> dict[str, Any]:
    """What today's readers make of the stored items."""
    events = EventRepository()
    return {
        "tenant": TenantRepository().get(world.tenant_id),
        "connection": ConnectionRepository().get(world.tenant_id),
        "settings": world.configuration.read_settings(world.tenant_id),
        "mappings": world.configuration.all_mappings(world.tenant_id),
        "invoice_link": world.links.get(world.tenant_id, "Invoice", invoice_id),
        "payment_link": world.links.get(world.tenant_id, "Payment", payment_id),
        "done": events.list(world.tenant_id, "done").items,
        "failed": events.list(world.tenant_id, "failed").items,
        "checkpoint": CheckpointRepository().get(world.tenant_id, "qbo"),
        "marks": WebhookMarks().already_queued(["mark-1", "mark-2"], NOW.timestamp()),
        "run": RunRepository().get(world.tenant_id, "run-1"),
        "refcache": ReferenceCacheRepository().get(world.tenant_id, "accounts", NOW.timestamp()),
        "oauth_state": OAuthStateRepository().peek("nonce-1", NOW),
        "penalty": DynamoGovernorStore(window_seconds=60).penalty_until(world.realm_id),
    }


def test_given_every_kind_of_item_when_written_then_each_carries_the_current_schema_version(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    world.pay_in_full(invoice)
    _write_every_other_kind(world)

    items = _every_item()

    # Each kind by its sort key's first part (the key layout of docs/architecture.md).
    kinds = {str(item["sk"]).split("#")[0] for item in items}
    assert {
        "PROFILE", "CONNECTION", "OWNER", "STATE", "WINDOW", "SLOT", "PENALTY", "SETTINGS", "MAPPINGS",
        "AUDIT", "LINK", "RUN", "RUNLOCK", "EVENT", "REFCACHE", "CHECKPOINT", "SEEN",
    } <= kinds  # fmt: skip
    unstamped = [(item["pk"], item["sk"]) for item in items if item.get(SCHEMA_ATTRIBUTE) != SCHEMA_VERSION]
    assert unstamped == []


def test_given_items_and_queued_messages_of_the_previous_version_when_the_new_code_runs_then_nothing_is_lost(
    world: PushWorld,
) -> None:
    # Given: a deployed stack's data, written by the previous version (a voided invoice, a failed event)...
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    payment = world.pay_in_full(invoice)
    voided = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    world.change("POST", f"invoices/{voided['id']}/void")
    world.deliver_all()
    world.drain()
    pending = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    _write_every_other_kind(world)
    failed_event = world.events.list(world.tenant_id, "done").items[0]
    world.events.mark_failed(
        world.tenant_id,
        failed_event.event_id,
        EventFailure.of(ReasonCode.RETRYING, "QboServerFault; the queue delivers it again"),
        NOW,
    )
    before = _reads(world, invoice["id"], payment["id"])
    pending_before = world.links.get(world.tenant_id, "Invoice", pending["id"])
    voided_before = world.links.get(world.tenant_id, "Invoice", voided["id"])
    # ...and a change still on the queue when the new version is deployed.
    edited = world.change(
        "PUT",
        f"invoices/{pending['id']}",
        {"lines": [{"product_id": world.product_ids()[1], "quantity": "7"}]},
    )
    world.deliver_all()
    for item in _every_item():
        dynamodb_client().put_item(
            TableName=get_settings().table_name, Item=serialize(_as_previous_version(item))
        )
    assert all(SCHEMA_ATTRIBUTE not in item for item in _every_item())

    # When: the new code reads them and works the queue.
    after = _reads(world, invoice["id"], payment["id"])
    voided_after = world.links.get(world.tenant_id, "Invoice", voided["id"])
    world.drain()

    # Then: every item reads as it did, the legacy shapes included, and the queued change landed once.
    assert after == before
    assert (
        voided_after == voided_before and voided_after is not None and voided_after.state is LinkState.VOIDED
    )
    assert [event.reason_code for event in after["failed"]] == [ReasonCode.RETRYING]
    link = world.links.get(world.tenant_id, "Invoice", pending["id"])
    assert link is not None and pending_before is not None
    assert (link.qbo_id, link.source_version) == (pending_before.qbo_id, edited["version"])
    in_qbo = world.qbo.read("Invoice", link.qbo_id)
    assert len(world.qbo_rows("Invoice", f"DocNumber = '{in_qbo['DocNumber']}'")) == 1
    assert Decimal(str(in_qbo["TotalAmt"])) == Decimal(edited["total"])
    written = MainTable().get(f"TENANT#{world.tenant_id}", f"LINK#Invoice#{pending['id']}")
    assert written is not None and written[SCHEMA_ATTRIBUTE] == SCHEMA_VERSION  # re-stamped by its next write

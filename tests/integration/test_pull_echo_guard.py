"""What the pull worker must still see while it takes qbosync's own writes for echoes without reading:
someone else's later edit, a CDC row, and a deletion the source did not ask for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qbosync.qbo.client import request_id_for
from qbosync.store.links import LinkRepository
from qbosync.sync.reconcile import change_of_row
from qbosync.sync.records.messages import PullMessage
from tests.integration.test_pull_no_echo_removals import (
    _failed_pull_reasons,
    _pull,
    _push,
    _push_service,
    _pushed_invoice,
    _qbo_id,
    _source_change,
)
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def _edit_total_in_qbo(world: PullWorld, qbo_id: str, amount: float) -> None:
    """An accountant changes the invoice's only line in the QBO UI."""
    qbo = world.qbo()
    current = qbo.read("Invoice", qbo_id)
    line = next(line for line in current["Line"] if line.get("DetailType") == "SalesItemLineDetail")
    detail = {**line["SalesItemLineDetail"], "Qty": 1, "UnitPrice": amount}
    qbo.sparse_update(
        "Invoice",
        {
            "Id": qbo_id,
            "SyncToken": current["SyncToken"],
            "Line": [{**line, "Amount": amount, "SalesItemLineDetail": detail}],
        },
        request_id_for(TENANT, "accountant", qbo_id, current["SyncToken"], "edit"),
    )


def test_given_an_invoice_qbosync_updated_when_an_accountant_edits_it_later_then_drift_is_reported(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world)
    invoice = _pushed_invoice(pull_world, push)
    edited = _source_change(
        pull_world,
        "PUT",
        f"invoices/{invoice['id']}",
        {"lines": [{"product_id": pull_world.default_product, "quantity": "3", "unit_price": "50.00"}]},
    )
    _push(push, "invoice", edited)
    _pull(pull_world)
    link = LinkRepository().get(TENANT, "Invoice", invoice["id"])
    assert link is not None and link.sync_token not in (None, "0")
    pull_world.qbo_http.post("/_sandbox/clock", json={"advance_seconds": 5}).raise_for_status()

    _edit_total_in_qbo(pull_world, link.qbo_id, 1.0)
    _pull(pull_world)

    [reason] = _failed_pull_reasons(pull_world)
    assert reason.startswith("drift:") and invoice["id"] in reason and "differs" in reason


def test_given_a_cdc_row_of_a_change_the_link_would_take_for_an_echo_when_applied_then_the_row_is_checked(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world)
    invoice = _pushed_invoice(pull_world, push)
    qbo_id = _qbo_id("Invoice", invoice["id"])
    links = LinkRepository()
    link = links.get(TENANT, "Invoice", invoice["id"])
    assert link is not None
    _edit_total_in_qbo(pull_world, qbo_id, 1.0)
    row = pull_world.qbo().read("Invoice", qbo_id)
    # A link that claims an update by qbosync after the row's change: a webhook would not be read back.
    links.put(
        link.model_copy(update={"sync_token": "7", "updated_at": datetime.now(UTC) + timedelta(hours=1)})
    )
    change = change_of_row(pull_world.realm_id, "Invoice", row)

    outcome = pull_world.pull_service().apply(
        PullMessage(tenant_id=TENANT, change=change, received_at=datetime.now(UTC)), row=row
    )

    assert outcome.status == "drift" and "differs" in outcome.reason


def test_given_an_invoice_the_source_deleted_when_qbo_reports_the_deletion_before_its_link_then_no_drift(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world, deletion_policy="delete")
    invoice = _pushed_invoice(pull_world, push)
    qbo_id = _qbo_id("Invoice", invoice["id"])
    _source_change(pull_world, "DELETE", f"invoices/{invoice['id']}")
    qbo = pull_world.qbo()
    # The push's delete reached QBO; its answer was lost, so the link does not say so yet.
    qbo.delete("Invoice", qbo_id, str(qbo.read("Invoice", qbo_id)["SyncToken"]), "lost-answer-delete")

    _pull(pull_world)

    assert _failed_pull_reasons(pull_world) == []


def test_given_an_invoice_the_source_still_has_when_it_is_deleted_in_qbo_then_drift_is_reported(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world)
    invoice = _pushed_invoice(pull_world, push)
    qbo_id = _qbo_id("Invoice", invoice["id"])
    qbo = pull_world.qbo()

    qbo.delete("Invoice", qbo_id, str(qbo.read("Invoice", qbo_id)["SyncToken"]), "accountant-delete")
    _pull(pull_world)

    [reason] = _failed_pull_reasons(pull_world)
    assert reason.startswith("drift:") and invoice["id"] in reason and "deleted in QBO" in reason

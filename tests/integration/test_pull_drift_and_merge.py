"""Documents qbosync pushed, changed in QBO (drift or not), and customers merged in QBO."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.events import ReasonCode
from qbosync.store.links import Link, LinkRepository
from qbosync.sync.reconcile import QBO_CHECKPOINT, SOURCE_CHECKPOINT
from tests.support.pull_world import (  # noqa: F401 (fixture)
    TENANT,
    VERIFIER,
    LambdaContextStub,
    PullWorld,
    http_api_event,
    pull_world_fixture,
)


def _headers(world: PullWorld) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.vault.access_token()}", "Accept": "application/json"}


def _pushed_invoice(world: PullWorld) -> tuple[dict[str, Any], str]:
    """A QBO invoice as the push would have written it for the source's first invoice, and its link."""
    source_invoice = world.source().list_invoices().items[0]
    company = world.qbo_sandbox.companies[world.realm_id]
    item = next(row for row in company.records["Item"].values() if row.get("Type") == "Service")
    customer = world.qbo_customer(DisplayName="Invoiced Customer")
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer["Id"]},
        "TxnDate": source_invoice.issue_date.isoformat(),
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": float(line.amount),
                "SalesItemLineDetail": {
                    "ItemRef": {"value": item["Id"]},
                    "Qty": float(line.quantity),
                    "UnitPrice": float(line.unit_price),
                },
            }
            for line in source_invoice.lines
        ],
    }
    if source_invoice.due_date is not None:
        body["DueDate"] = source_invoice.due_date.isoformat()
    invoice = world.qbo_http.post(
        f"/v3/company/{world.realm_id}/invoice", json=body, headers=_headers(world)
    ).json()["Invoice"]
    LinkRepository().put(
        Link(
            tenant_id=TENANT,
            entity="Invoice",
            source_id=source_invoice.id,
            qbo_id=invoice["Id"],
            sync_token=invoice["SyncToken"],
            source_version=source_invoice.version,
            updated_at=datetime.now(UTC),
        )
    )
    world.deliver_qbo_webhooks()
    assert world.run_pull_worker() == []
    return invoice, source_invoice.id


def _drift_reasons(world: PullWorld) -> list[str]:
    return [event.reason or "" for event in world.events("failed") if event.reason_code is ReasonCode.DRIFT]


def test_given_a_pushed_invoice_when_its_total_is_edited_in_qbo_then_drift_is_reported(
    pull_world: PullWorld,
) -> None:
    invoice, source_id = _pushed_invoice(pull_world)
    pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/invoice",
        json={
            **invoice,
            "Line": [
                {
                    **invoice["Line"][0],
                    "Amount": 1.0,
                    "SalesItemLineDetail": {"ItemRef": invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"]},
                }
            ],
        },
        headers=_headers(pull_world),
    ).raise_for_status()

    pull_world.deliver_qbo_webhooks()
    pull_world.run_pull_worker()

    [reason] = _drift_reasons(pull_world)
    assert source_id in reason and "differs" in reason


def test_given_a_pushed_invoice_when_its_due_date_is_edited_in_qbo_then_drift_names_the_due_date(
    pull_world: PullWorld,
) -> None:
    invoice, source_id = _pushed_invoice(pull_world)
    pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/invoice",
        json={**invoice, "DueDate": "2031-01-31"},
        headers=_headers(pull_world),
    ).raise_for_status()

    pull_world.deliver_qbo_webhooks()
    pull_world.run_pull_worker()

    [reason] = _drift_reasons(pull_world)
    assert source_id in reason and "due date 2031-01-31 in QBO" in reason
    assert "total" not in reason


def test_given_a_pushed_invoice_when_a_payment_settles_it_in_qbo_then_no_drift_is_reported(
    pull_world: PullWorld,
) -> None:
    invoice, _ = _pushed_invoice(pull_world)
    pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/payment",
        json={
            "CustomerRef": invoice["CustomerRef"],
            "TotalAmt": invoice["TotalAmt"],
            "Line": [
                {"Amount": invoice["TotalAmt"], "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
            ],
        },
        headers=_headers(pull_world),
    ).raise_for_status()

    pull_world.deliver_qbo_webhooks()
    pull_world.run_pull_worker()

    assert _drift_reasons(pull_world) == []


def test_given_two_linked_customers_merged_in_qbo_when_pulled_then_the_loser_link_points_at_the_survivor(
    pull_world: PullWorld,
) -> None:
    survivor = pull_world.qbo_customer(DisplayName="Survivor Co")
    loser = pull_world.qbo_customer(DisplayName="Loser Co")
    for source_id, row in (("cus_000001", survivor), ("cus_000002", loser)):
        LinkRepository().put(
            Link(
                tenant_id=TENANT,
                entity="Customer",
                source_id=source_id,
                qbo_id=row["Id"],
                sync_token=row["SyncToken"],
                source_version=1,
                updated_at=datetime.now(UTC),
            )
        )
    pull_world.deliver_qbo_webhooks()
    pull_world.run_pull_worker()
    reply = pull_world.send_customer_merge(survivor["Id"], loser["Id"], "merge-1")
    pull_world.run_pull_worker()

    assert reply["statusCode"] == 200
    moved = LinkRepository().get(TENANT, "Customer", "cus_000002")
    assert moved is not None and moved.qbo_id == survivor["Id"]
    unsupported = [
        e.reason or "" for e in pull_world.events("failed") if e.reason_code is ReasonCode.UNSUPPORTED
    ]
    assert any("cus_000001" in r and "cus_000002" in r for r in unsupported)


def test_given_a_due_date_edit_whose_webhook_was_lost_when_reconciled_then_drift_names_the_due_date(
    pull_world: PullWorld,
) -> None:
    invoice, source_id = _pushed_invoice(pull_world)
    CheckpointRepository().put(TENANT, QBO_CHECKPOINT, datetime.now(UTC))
    CheckpointRepository().put(TENANT, SOURCE_CHECKPOINT, datetime.now(UTC))
    pull_world.qbo_http.post("/_sandbox/clock", json={"advance_seconds": 5}).raise_for_status()
    pull_world.hook.drop_all = True
    pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/invoice",
        json={**invoice, "DueDate": "2031-01-31"},
        headers=_headers(pull_world),
    ).raise_for_status()
    pull_world.deliver_qbo_webhooks()

    pull_world.reconciler().reconcile_tenant(TENANT)

    [reason] = _drift_reasons(pull_world)
    assert source_id in reason and "due date 2031-01-31 in QBO" in reason

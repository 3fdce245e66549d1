"""QBO edits per field ownership, QBO payments recorded in the source, and drift healed by a re-push.

Both sandboxes in process; QBO's webhooks go through the real handler and the pull worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from qbosync.source.models import SourceCustomer
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.links import Link, LinkRepository
from qbosync.sync.configuration import (
    CustomerFieldOwnership,
    FieldOwnership,
    QboDefaults,
    SourceDefaults,
)
from qbosync.sync.reconcile import QBO_CHECKPOINT, SOURCE_CHECKPOINT
from qbosync.sync.records.messages import PushMessage
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


def _qbo(world: PullWorld, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """A write made in QBO by someone else (an accountant)."""
    response = world.qbo_http.post(
        f"/v3/company/{world.realm_id}/{entity.lower()}", json=body, headers=_headers(world)
    )
    response.raise_for_status()
    written: dict[str, Any] = response.json()[entity]
    return written


def _pull(world: PullWorld) -> None:
    world.deliver_qbo_webhooks()
    assert world.run_pull_worker() == []


def _link(world: PullWorld, entity: str, source_id: str, row: dict[str, Any], origin: str) -> None:
    LinkRepository().put(
        Link(
            tenant_id=TENANT,
            entity=entity,
            source_id=source_id,
            qbo_id=row["Id"],
            sync_token=row["SyncToken"],
            source_version=1,
            updated_at=datetime.now(UTC),
            origin=origin,  # type: ignore[arg-type]
        )
    )


def _with(world: PullWorld, **changes: Any) -> None:
    world.settings = world.settings.model_copy(update=changes)


def _reasons(world: PullWorld, status: str) -> list[str]:
    """Each event in ``status`` as ``<reason code>: <reason>`` (a done event has no code)."""
    return [
        f"{event.reason_code}: {event.reason}" if event.reason_code else event.reason or ""
        for event in world.events(status)
    ]


# --- field ownership -------------------------------------------------------------------------------


def _linked_source_customer(world: PullWorld) -> tuple[SourceCustomer, dict[str, Any]]:
    """A source customer and its QBO twin, linked as the initial sync leaves them (QBO's own
    notification of the creation already handled)."""
    source_customer = world.source().list_customers().items[0]
    created = world.qbo_customer(DisplayName=source_customer.display_name)
    _link(world, "Customer", source_customer.id, created, "qbosync")
    world.deliver_qbo_webhooks()
    world.pull_messages()
    return source_customer, created


def test_given_a_customer_created_in_qbo_when_its_email_is_edited_in_qbo_then_the_source_gets_the_new_email(
    pull_world: PullWorld,
) -> None:
    created = pull_world.qbo_customer(
        DisplayName="Owned By QBO", PrimaryEmailAddr={"Address": "old@qbo.example"}
    )
    _pull(pull_world)
    link = pull_world.link_of_qbo("Customer", created["Id"])
    assert link is not None
    before = pull_world.source().get_customer(link.source_id)

    _qbo(
        pull_world,
        "Customer",
        {
            "Id": created["Id"],
            "SyncToken": created["SyncToken"],
            "sparse": True,
            "PrimaryEmailAddr": {"Address": "new@qbo.example"},
        },
    )
    _pull(pull_world)

    after = pull_world.source().get_customer(link.source_id)
    assert (after.email, after.version) == ("new@qbo.example", before.version + 1)
    relinked = pull_world.link_of_qbo("Customer", created["Id"])
    assert relinked is not None and relinked.source_version == after.version


def test_given_a_qbo_created_customer_when_made_inactive_in_qbo_then_the_source_customer_is_deactivated(
    pull_world: PullWorld,
) -> None:
    created = pull_world.qbo_customer(DisplayName="Leaving Soon")
    _pull(pull_world)
    link = pull_world.link_of_qbo("Customer", created["Id"])
    assert link is not None

    _qbo(
        pull_world,
        "Customer",
        {"Id": created["Id"], "SyncToken": created["SyncToken"], "sparse": True, "Active": False},
    )
    _pull(pull_world)

    assert pull_world.source().get_customer(link.source_id).active is False


def test_given_qbo_owns_contact_when_a_customer_is_renamed_and_reemailed_in_qbo_then_only_the_email_moves(
    pull_world: PullWorld,
) -> None:
    _with(pull_world, field_ownership=FieldOwnership(customers=CustomerFieldOwnership(contact="qbo")))
    source_customer, created = _linked_source_customer(pull_world)

    _qbo(
        pull_world,
        "Customer",
        {
            "Id": created["Id"],
            "SyncToken": created["SyncToken"],
            "sparse": True,
            "DisplayName": "Renamed In QBO",
            "PrimaryEmailAddr": {"Address": "accounts@renamed.example"},
        },
    )
    _pull(pull_world)

    after = pull_world.source().get_customer(source_customer.id)
    assert (after.display_name, after.email) == (source_customer.display_name, "accounts@renamed.example")


def test_given_split_ownership_when_both_sides_edit_a_customer_then_each_sides_fields_win_after_reconciling(
    pull_world: PullWorld,
) -> None:
    # The source owns names, QBO owns contact details. The source renames the customer (its webhook
    # lost) while an accountant changes the e-mail in QBO: after the pull and a reconciliation, QBO has
    # the new name and the source has the new e-mail, and neither side's edit undid the other's.
    _with(pull_world, field_ownership=FieldOwnership(customers=CustomerFieldOwnership(contact="qbo")))
    source_customer, created = _linked_source_customer(pull_world)
    CheckpointRepository().put(TENANT, SOURCE_CHECKPOINT, datetime.now(UTC) - timedelta(minutes=1))
    CheckpointRepository().put(TENANT, QBO_CHECKPOINT, datetime.now(UTC))
    pull_world.source_http.put(
        f"/_sandbox/tenants/{TENANT}/customers/{source_customer.id}?deliver=false",
        json={"display_name": "Renamed In The Source"},
    ).raise_for_status()
    _qbo(
        pull_world,
        "Customer",
        {
            "Id": created["Id"],
            "SyncToken": created["SyncToken"],
            "sparse": True,
            "PrimaryEmailAddr": {"Address": "accounts@qbo-owned.example"},
        },
    )
    _pull(pull_world)

    pull_world.reconciler().reconcile_tenant(TENANT)

    in_qbo = _qbo_read(pull_world, "Customer", created["Id"])
    in_source = pull_world.source().get_customer(source_customer.id)
    assert (in_qbo["DisplayName"], in_qbo["PrimaryEmailAddr"]["Address"]) == (
        "Renamed In The Source",
        "accounts@qbo-owned.example",
    )
    assert (in_source.display_name, in_source.email) == (
        "Renamed In The Source",
        "accounts@qbo-owned.example",
    )


def test_given_a_qbo_edit_not_pulled_yet_when_reconciling_writes_source_fields_then_the_edit_still_arrives(
    pull_world: PullWorld,
) -> None:
    # QBO owns contact details. An accountant's e-mail change is still in QBO's webhook batch when the
    # reconciliation writes the source's new name to QBO: that write must not make the e-mail change
    # pass for qbosync's own echo once the webhooks arrive.
    _with(pull_world, field_ownership=FieldOwnership(customers=CustomerFieldOwnership(contact="qbo")))
    source_customer, created = _linked_source_customer(pull_world)
    CheckpointRepository().put(TENANT, SOURCE_CHECKPOINT, datetime.now(UTC) - timedelta(minutes=1))
    pull_world.source_http.put(
        f"/_sandbox/tenants/{TENANT}/customers/{source_customer.id}?deliver=false",
        json={"display_name": "Renamed Meanwhile"},
    ).raise_for_status()
    _qbo(
        pull_world,
        "Customer",
        {
            "Id": created["Id"],
            "SyncToken": created["SyncToken"],
            "sparse": True,
            "PrimaryEmailAddr": {"Address": "late@qbo-owned.example"},
        },
    )
    # The reconciliation's CDC window starts after the accountant's edit: only the webhook brings it.
    CheckpointRepository().put(TENANT, QBO_CHECKPOINT, datetime.now(UTC) + timedelta(seconds=2))
    pull_world.reconciler().reconcile_tenant(TENANT)
    assert _qbo_read(pull_world, "Customer", created["Id"])["DisplayName"] == "Renamed Meanwhile"

    _pull(pull_world)

    assert pull_world.source().get_customer(source_customer.id).email == "late@qbo-owned.example"


def test_given_the_default_ownership_when_a_source_customer_is_edited_in_qbo_then_the_source_is_not_written(
    pull_world: PullWorld,
) -> None:
    source_customer, created = _linked_source_customer(pull_world)

    _qbo(
        pull_world,
        "Customer",
        {"Id": created["Id"], "SyncToken": created["SyncToken"], "sparse": True, "DisplayName": "Not Copied"},
    )
    _pull(pull_world)

    assert pull_world.source().get_customer(source_customer.id) == source_customer
    assert pull_world.events("failed") == []
    assert any("the source owns every field" in reason for reason in _reasons(pull_world, "done"))


def test_given_a_qbo_created_customer_merged_away_in_qbo_when_pulled_then_its_source_customer_is_deactivated(
    pull_world: PullWorld,
) -> None:
    survivor_source = pull_world.source().list_customers().items[0]
    survivor = pull_world.qbo_customer(DisplayName=survivor_source.display_name)
    _link(pull_world, "Customer", survivor_source.id, survivor, "qbosync")
    loser = pull_world.qbo_customer(DisplayName="Duplicate Made In QBO")
    _pull(pull_world)
    loser_link = pull_world.link_of_qbo("Customer", loser["Id"])
    assert loser_link is not None and loser_link.origin == "qbo"
    reply = pull_world.send_customer_merge(survivor["Id"], loser["Id"], "merge-qbo-owned")
    assert pull_world.run_pull_worker() == []

    assert reply["statusCode"] == 200
    assert pull_world.source().get_customer(loser_link.source_id).active is False
    assert pull_world.source().get_customer(survivor_source.id).active is True


# --- payments entered in QBO -----------------------------------------------------------------------


def _synced_invoice(world: PullWorld) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A source invoice and its customer, both in QBO and linked as the push leaves them.

    Returns the QBO customer, the QBO invoice and the source invoice id.
    """
    source = world.source()
    customer = source.list_customers().items[0]
    product = source.list_products().items[0]
    made = world.source_http.post(
        f"/_sandbox/tenants/{TENANT}/invoices?deliver=false",
        json={
            "customer_id": customer.id,
            "lines": [{"product_id": product.id, "quantity": "1", "unit_price": "200.00"}],
        },
    )
    made.raise_for_status()
    source_invoice = made.json()
    qbo_customer = world.qbo_customer(DisplayName=customer.display_name)
    _link(world, "Customer", customer.id, qbo_customer, "qbosync")
    company = world.qbo_sandbox.companies[world.realm_id]
    item = next(row for row in company.records["Item"].values() if row.get("Type") == "Service")
    qbo_invoice = _qbo(
        world,
        "Invoice",
        {
            "CustomerRef": {"value": qbo_customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 200.0,
                    "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 1},
                }
            ],
        },
    )
    _link(world, "Invoice", source_invoice["id"], qbo_invoice, "qbosync")
    world.deliver_qbo_webhooks()
    world.pull_messages()
    return qbo_customer, qbo_invoice, source_invoice["id"]


def _qbo_payment(
    world: PullWorld, customer: dict[str, Any], invoice: dict[str, Any], amount: float
) -> dict[str, Any]:
    return _qbo(
        world,
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": amount,
            "PaymentRefNum": "CHK-7781",
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )


def _record_qbo_payments(world: PullWorld) -> str:
    method = world.source().list_payment_methods()[0].code
    _with(
        world,
        sync=world.settings.sync.model_copy(update={"qbo_to_source_payments": True}),
        source_defaults=SourceDefaults(
            new_customer_bill_profile_id=world.bill_profile,
            unmatched_qbo_item_product_id=world.default_product,
            qbo_payment_method_code=method,
        ),
    )
    return method


def test_given_recording_qbo_payments_is_on_when_a_payment_is_entered_in_qbo_then_the_source_records_it_once(
    pull_world: PullWorld,
) -> None:
    method = _record_qbo_payments(pull_world)
    customer, invoice, source_invoice_id = _synced_invoice(pull_world)

    payment = _qbo_payment(pull_world, customer, invoice, 80.0)
    _pull(pull_world)
    pull_world.deliver_qbo_webhooks()  # the same notification again
    pull_world.run_pull_worker()

    link = pull_world.link_of_qbo("Payment", payment["Id"])
    assert link is not None and link.origin == "qbo"
    recorded = pull_world.source().get_payment(link.source_id)
    assert (recorded.amount, recorded.method, recorded.reference, recorded.status) == (
        Decimal("80.00"),
        method,
        "CHK-7781",
        "posted",
    )
    assert [(a.invoice_id, a.amount) for a in recorded.applied_to] == [(source_invoice_id, Decimal("80.00"))]
    payments = [p for p in pull_world.source().list_payments(limit=500).items if p.reference == "CHK-7781"]
    assert len(payments) == 1


def _source_payment_event(event_id: str, action: str, payment: Any) -> PushMessage:
    return PushMessage.model_validate(
        {
            "event_id": event_id,
            "tenant_id": TENANT,
            "kind": "payment",
            "action": action,
            "source_id": payment.id,
            "source_version": payment.version,
            "occurred_at": payment.updated_at,
            "received_at": datetime.now(UTC),
        }
    )


def test_given_a_qbo_payment_recorded_in_the_source_when_its_webhooks_are_pushed_then_qbo_is_not_written(
    pull_world: PullWorld,
) -> None:
    _record_qbo_payments(pull_world)
    customer, invoice, _ = _synced_invoice(pull_world)
    payment = _qbo_payment(pull_world, customer, invoice, 30.0)
    _pull(pull_world)
    link = pull_world.link_of_qbo("Payment", payment["Id"])
    assert link is not None
    recorded = pull_world.source().get_payment(link.source_id)
    # The pull voids the source's copy when the payment is edited in QBO; that void's webhook can reach
    # the push before the pull has re-linked the replacement.
    voided = pull_world.source().void_payment(recorded.id)
    writes = pull_world.qbo_writes()
    pull_world.store_settings()  # the push reads the stored settings (its go-live date among them)
    push = pull_world.push_service()

    created = push.apply(_source_payment_event("evt-payment-created", "created", recorded))
    void = push.apply(_source_payment_event("evt-payment-voided", "voided", voided))

    assert (created.status, void.status) == ("done", "done")
    notes = {event.event_id: event.reason for event in pull_world.events("done")}
    assert notes["evt-payment-voided"] == "entered in QBO; QBO owns this payment"
    assert pull_world.qbo_writes() == writes
    assert _qbo_read(pull_world, "Payment", payment["Id"])["TotalAmt"] == 30.0


def _qbo_read(world: PullWorld, entity: str, qbo_id: str) -> dict[str, Any]:
    response = world.qbo_http.get(
        f"/v3/company/{world.realm_id}/{entity.lower()}/{qbo_id}", headers=_headers(world)
    )
    response.raise_for_status()
    read: dict[str, Any] = response.json()[entity]
    return read


def test_given_a_recorded_qbo_payment_when_it_is_voided_in_qbo_then_the_source_payment_is_voided(
    pull_world: PullWorld,
) -> None:
    _record_qbo_payments(pull_world)
    customer, invoice, _ = _synced_invoice(pull_world)
    payment = _qbo_payment(pull_world, customer, invoice, 50.0)
    _pull(pull_world)
    link = pull_world.link_of_qbo("Payment", payment["Id"])
    assert link is not None

    pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/payment?operation=void",
        json={"Id": payment["Id"], "SyncToken": payment["SyncToken"]},
        headers=_headers(pull_world),
    ).raise_for_status()
    _pull(pull_world)

    assert pull_world.source().get_payment(link.source_id).status == "void"


def test_given_a_recorded_qbo_payment_when_its_amount_is_edited_in_qbo_then_the_source_copy_is_replaced(
    pull_world: PullWorld,
) -> None:
    _record_qbo_payments(pull_world)
    customer, invoice, source_invoice_id = _synced_invoice(pull_world)
    payment = _qbo_payment(pull_world, customer, invoice, 50.0)
    _pull(pull_world)
    first = pull_world.link_of_qbo("Payment", payment["Id"])
    assert first is not None

    _qbo(
        pull_world,
        "Payment",
        {
            **payment,
            "TotalAmt": 75.0,
            "Line": [{"Amount": 75.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    _pull(pull_world)

    second = pull_world.link_of_qbo("Payment", payment["Id"])
    assert second is not None and second.source_id != first.source_id
    assert pull_world.source().get_payment(first.source_id).status == "void"
    replacement = pull_world.source().get_payment(second.source_id)
    assert (replacement.amount, replacement.status) == (Decimal("75.00"), "posted")
    assert [(a.invoice_id, a.amount) for a in replacement.applied_to] == [
        (source_invoice_id, Decimal("75.00"))
    ]
    assert LinkRepository().get(TENANT, "Payment", first.source_id) is None


def test_given_recording_qbo_payments_is_off_when_a_payment_is_entered_in_qbo_then_it_is_skipped_not_failed(
    pull_world: PullWorld,
) -> None:
    customer, invoice, _ = _synced_invoice(pull_world)
    payments_before = len(pull_world.source().list_payments(limit=500).items)

    _qbo_payment(pull_world, customer, invoice, 20.0)
    _pull(pull_world)

    assert len(pull_world.source().list_payments(limit=500).items) == payments_before
    assert pull_world.events("failed") == []
    assert any(
        reason.startswith("skipped:") and "sync.qbo_to_source_payments" in reason
        for reason in _reasons(pull_world, "done")
    )


def test_given_no_method_mapping_nor_default_when_a_qbo_payment_is_pulled_then_it_fails_with_the_fix(
    pull_world: PullWorld,
) -> None:
    _with(pull_world, sync=pull_world.settings.sync.model_copy(update={"qbo_to_source_payments": True}))
    customer, invoice, _ = _synced_invoice(pull_world)

    _qbo_payment(pull_world, customer, invoice, 20.0)
    _pull(pull_world)

    assert any("qbo_payment_method_code" in reason for reason in _reasons(pull_world, "failed"))


# --- drift ---------------------------------------------------------------------------------------


def test_given_drift_policy_heal_when_a_pushed_invoice_is_edited_in_qbo_then_a_heal_is_queued_for_the_push(
    pull_world: PullWorld,
) -> None:
    _with(pull_world, drift_policy="heal")
    _, invoice, source_invoice_id = _synced_invoice(pull_world)

    _qbo(pull_world, "Invoice", {**invoice, "Line": [{**invoice["Line"][0], "Amount": 1.0}]})
    _pull(pull_world)

    [heal] = pull_world.push_messages()
    assert (heal["kind"], heal["source_id"], heal["heal"]) == ("invoice", source_invoice_id, True)
    assert not any(reason.startswith("drift:") for reason in _reasons(pull_world, "failed"))


def test_given_drift_policy_report_when_a_pushed_invoice_is_edited_in_qbo_then_nothing_is_queued(
    pull_world: PullWorld,
) -> None:
    _, invoice, source_invoice_id = _synced_invoice(pull_world)

    _qbo(pull_world, "Invoice", {**invoice, "Line": [{**invoice["Line"][0], "Amount": 1.0}]})
    _pull(pull_world)

    assert pull_world.push_messages() == []
    assert any(
        reason.startswith("drift:") and source_invoice_id in reason
        for reason in _reasons(pull_world, "failed")
    )


def test_given_drift_policy_heal_when_a_pushed_invoice_is_deleted_in_qbo_then_the_push_recreates_it(
    pull_world: PullWorld,
) -> None:
    item_id = pull_world.service_item_id()
    _with(
        pull_world,
        drift_policy="heal",
        qbo_defaults=QboDefaults(unmatched_one_time_item_id=item_id, unmatched_recurring_item_id=item_id),
    )
    pull_world.store_settings()
    source_invoice = pull_world.source().list_invoices().items[0]
    push = pull_world.push_service()
    pushed = push.apply(
        PushMessage.model_validate(
            {
                "event_id": "evt-invoice-created",
                "tenant_id": TENANT,
                "kind": "invoice",
                "action": "created",
                "source_id": source_invoice.id,
                "source_version": source_invoice.version,
                "occurred_at": source_invoice.updated_at,
                "received_at": datetime.now(UTC),
            }
        )
    )
    assert pushed.status == "done", pushed.reason
    _pull(pull_world)
    lost = _qbo_read(pull_world, "Invoice", str(pushed.qbo_id))
    pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/invoice?operation=delete",
        json={"Id": lost["Id"], "SyncToken": lost["SyncToken"]},
        headers=_headers(pull_world),
    ).raise_for_status()

    _pull(pull_world)
    [heal] = pull_world.push_messages()
    healed = push.apply(PushMessage.model_validate(heal))

    assert healed.status == "done", healed.reason
    link = LinkRepository().get(TENANT, "Invoice", source_invoice.id)
    assert link is not None and link.qbo_id not in (None, lost["Id"])
    again = _qbo_read(pull_world, "Invoice", link.qbo_id)
    assert (Decimal(str(again["TotalAmt"])), again["DocNumber"]) == (source_invoice.total, lost["DocNumber"])

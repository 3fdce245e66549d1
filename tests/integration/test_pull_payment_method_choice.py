"""A payment entered in QBO is recorded in the source with an explicitly chosen method when several
source methods map to its QBO method (never the first alphabetically)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from qbosync.store.config import AuditRecord, MappingRepository
from qbosync.store.links import Link, LinkRepository
from qbosync.sync.configuration import MappingKind, SourceDefaults
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def _headers(world: PullWorld) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.vault.access_token()}", "Accept": "application/json"}


def _qbo(world: PullWorld, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = world.qbo_http.post(
        f"/v3/company/{world.realm_id}/{entity.lower()}", json=body, headers=_headers(world)
    )
    response.raise_for_status()
    written: dict[str, Any] = response.json()[entity]
    return written


def _link(entity: str, source_id: str, row: dict[str, Any]) -> None:
    LinkRepository().put(
        Link(
            tenant_id=TENANT,
            entity=entity,
            source_id=source_id,
            qbo_id=row["Id"],
            sync_token=row["SyncToken"],
            source_version=1,
            updated_at=datetime.now(UTC),
            origin="qbosync",
        )
    )


def _map_every_source_method_to(world: PullWorld, qbo_method_id: str) -> list[str]:
    codes = sorted(entry.code for entry in world.source().list_payment_methods())
    rows = [{"source_key": code, "qbo_id": qbo_method_id, "qbo_name": "Check"} for code in codes]
    audit = AuditRecord(
        actor="admin-1",
        action="mappings.replaced",
        target="payment-methods",
        before=None,
        after=rows,
        at=datetime.now(UTC),
    )
    MappingRepository().replace(TENANT, MappingKind.PAYMENT_METHODS.value, rows, 0, audit)
    return codes


def _paid_in_qbo(world: PullWorld, method_id: str) -> dict[str, Any]:
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
    qbo_customer = world.qbo_customer(DisplayName=customer.display_name)
    _link("Customer", customer.id, qbo_customer)
    company = world.qbo_sandbox.companies[world.realm_id]
    item = next(row for row in company.records["Item"].values() if row.get("Type") == "Service")
    invoice = _qbo(
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
    _link("Invoice", made.json()["id"], invoice)
    world.deliver_qbo_webhooks()
    world.pull_messages()
    return _qbo(
        world,
        "Payment",
        {
            "CustomerRef": {"value": qbo_customer["Id"]},
            "TotalAmt": 50.0,
            "PaymentMethodRef": {"value": method_id},
            "Line": [{"Amount": 50.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )


def _record_qbo_payments(world: PullWorld, **defaults: Any) -> None:
    world.settings = world.settings.model_copy(
        update={
            "sync": world.settings.sync.model_copy(update={"qbo_to_source_payments": True}),
            "source_defaults": SourceDefaults(new_customer_bill_profile_id=world.bill_profile, **defaults),
        }
    )


def _check_method(world: PullWorld) -> str:
    company = world.qbo_sandbox.companies[world.realm_id]
    return str(next(iter(company.records["PaymentMethod"].values()))["Id"])


def test_given_every_source_method_maps_to_one_qbo_method_when_a_choice_names_the_last_then_it_is_recorded(
    pull_world: PullWorld,
) -> None:
    method_id = _check_method(pull_world)
    codes = _map_every_source_method_to(pull_world, method_id)
    chosen = codes[-1]
    _record_qbo_payments(pull_world, qbo_payment_method_choices={method_id: chosen})

    payment = _paid_in_qbo(pull_world, method_id)
    pull_world.deliver_qbo_webhooks()
    assert pull_world.run_pull_worker() == []

    link = pull_world.link_of_qbo("Payment", payment["Id"])
    assert link is not None
    assert pull_world.source().get_payment(link.source_id).method == chosen


def test_given_several_methods_map_to_one_qbo_method_and_no_choice_when_pulled_then_it_fails_naming_them(
    pull_world: PullWorld,
) -> None:
    method_id = _check_method(pull_world)
    codes = _map_every_source_method_to(pull_world, method_id)
    _record_qbo_payments(pull_world)

    payment = _paid_in_qbo(pull_world, method_id)
    pull_world.deliver_qbo_webhooks()
    pull_world.run_pull_worker()

    assert pull_world.link_of_qbo("Payment", payment["Id"]) is None
    reasons = [event.reason or "" for event in pull_world.events("failed")]
    assert any(", ".join(codes) in reason and "qbo_payment_method_choices" in reason for reason in reasons)

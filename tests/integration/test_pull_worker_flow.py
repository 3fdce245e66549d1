"""QBO changes through webhook → pull queue → pull worker → source, against both sandboxes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from qbosync.store.links import Link, LinkRepository
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def _pull(world: PullWorld) -> None:
    world.deliver_qbo_webhooks()
    assert world.run_pull_worker() == []


def _design_item(world: PullWorld) -> dict[str, Any]:
    company = world.qbo_sandbox.companies[world.realm_id]
    return next(dict(item) for item in company.records["Item"].values() if item.get("Type") == "Service")


def test_given_a_customer_created_in_qbo_when_pulled_then_the_source_has_it_with_the_bill_profile_and_a_link(
    pull_world: PullWorld,
) -> None:
    created = pull_world.qbo_customer(
        DisplayName="Pulled Traders", PrimaryEmailAddr={"Address": "ap@pulled.example"}
    )

    _pull(pull_world)

    link = pull_world.link_of_qbo("Customer", created["Id"])
    assert link is not None and link.origin == "qbo"
    source_customer = pull_world.source().get_customer(link.source_id)
    assert (source_customer.display_name, source_customer.bill_profile_id, source_customer.email) == (
        "Pulled Traders",
        pull_world.bill_profile,
        "ap@pulled.example",
    )


def test_given_a_pulled_customer_when_the_same_change_is_pulled_again_then_nothing_more_is_created(
    pull_world: PullWorld,
) -> None:
    pull_world.qbo_customer(DisplayName="Once Only Ltd")
    pull_world.deliver_qbo_webhooks()
    [message] = pull_world.pull_messages()
    from qbosync.sync.records.messages import PullMessage

    service = pull_world.pull_service()
    first = service.apply(PullMessage.model_validate(message))
    creations = pull_world.source_creations()

    again = service.apply(PullMessage.model_validate(message).model_copy(update={"redelivery": 1}))

    assert (first.status, again.status) == ("applied", "unchanged")
    assert pull_world.source_creations() == creations


def test_given_qbo_to_source_customers_is_off_when_a_qbo_customer_is_pulled_then_the_source_is_untouched(
    pull_world: PullWorld,
) -> None:
    pull_world.settings = pull_world.settings.model_copy(
        update={"sync": pull_world.settings.sync.model_copy(update={"qbo_to_source_customers": False})}
    )
    created = pull_world.qbo_customer(DisplayName="Stays In QBO")

    _pull(pull_world)

    assert pull_world.source_creations() == 0
    assert pull_world.link_of_qbo("Customer", created["Id"]) is None


def test_given_a_qbo_customer_created_from_the_source_when_edited_in_qbo_then_the_source_keeps_its_fields(
    pull_world: PullWorld,
) -> None:
    created = pull_world.qbo_customer(DisplayName="Source Owned Inc")
    LinkRepository().put(
        Link(
            tenant_id=TENANT,
            entity="Customer",
            source_id="cus_000001",
            qbo_id=created["Id"],
            sync_token=created["SyncToken"],
            source_version=1,
            updated_at=datetime.now(UTC),
            origin="qbosync",
        )
    )
    pull_world.deliver_qbo_webhooks()
    pull_world.pull_messages()
    before = pull_world.source_customers()
    pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/customer",
        json={
            "Id": created["Id"],
            "SyncToken": created["SyncToken"],
            "sparse": True,
            "DisplayName": "Renamed In QBO",
        },
        headers={"Authorization": f"Bearer {pull_world.vault.access_token()}", "Accept": "application/json"},
    ).raise_for_status()

    _pull(pull_world)

    assert pull_world.source_customers() == before
    assert pull_world.source_creations() == 0


def test_given_a_qbo_item_without_a_link_when_pulled_then_it_is_linked_to_the_default_source_product(
    pull_world: PullWorld,
) -> None:
    item = pull_world.qbo_http.post(
        f"/v3/company/{pull_world.realm_id}/item",
        json={
            "Name": "Rush fee",
            "Type": "Service",
            "IncomeAccountRef": _design_item(pull_world)["IncomeAccountRef"],
        },
        headers={"Authorization": f"Bearer {pull_world.vault.access_token()}", "Accept": "application/json"},
    )
    item.raise_for_status()
    qbo_id = item.json()["Item"]["Id"]

    _pull(pull_world)

    link = pull_world.link_of_qbo("Item", qbo_id)
    assert link is not None
    assert link.source_id.startswith(f"{pull_world.default_product}~")
    assert pull_world.source_creations() == 0


def test_given_qbo_payments_stay_in_qbo_when_one_pays_a_synced_invoice_then_it_is_skipped_and_nothing_written(
    pull_world: PullWorld,
) -> None:
    customer = pull_world.qbo_customer(DisplayName="Paying Customer")
    headers = {"Authorization": f"Bearer {pull_world.vault.access_token()}", "Accept": "application/json"}
    base = f"/v3/company/{pull_world.realm_id}"
    invoice = pull_world.qbo_http.post(
        f"{base}/invoice",
        json={
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 100.0,
                    "SalesItemLineDetail": {"ItemRef": {"value": _design_item(pull_world)["Id"]}, "Qty": 1},
                }
            ],
        },
        headers=headers,
    ).json()["Invoice"]
    LinkRepository().put(
        Link(
            tenant_id=TENANT,
            entity="Invoice",
            source_id="inv_000001",
            qbo_id=invoice["Id"],
            sync_token=invoice["SyncToken"],
            source_version=1,
            updated_at=datetime.now(UTC),
        )
    )
    pull_world.deliver_qbo_webhooks()
    pull_world.pull_messages()
    pull_world.qbo_http.post(
        f"{base}/payment",
        json={
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 100.0,
            "Line": [{"Amount": 100.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
        headers=headers,
    ).raise_for_status()

    _pull(pull_world)

    assert [event.kind for event in pull_world.events("failed")].count("qbo.payment") == 0
    assert pull_world.source_creations() == 0
    assert [event.kind for event in pull_world.events("done")].count("qbo.payment") == 1

"""A customer created in QBO reaches the source with its billing address, e-mail and phone (every
group QBO owns for a customer that started there)."""

from __future__ import annotations

from tests.support.pull_world import PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def test_given_a_customer_created_in_qbo_with_address_and_contact_when_pulled_then_the_source_has_them_all(
    pull_world: PullWorld,
) -> None:
    created = pull_world.qbo_customer(
        DisplayName="Harbor Lights LLC",
        PrimaryEmailAddr={"Address": "ap@harbor.example"},
        PrimaryPhone={"FreeFormNumber": "(555) 010-7788"},
        BillAddr={
            "Line1": "12 Pier Rd",
            "City": "Monterey",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "93940",
        },
    )

    pull_world.deliver_qbo_webhooks()
    assert pull_world.run_pull_worker() == []

    link = pull_world.link_of_qbo("Customer", created["Id"])
    assert link is not None
    customer = pull_world.source().get_customer(link.source_id)
    assert (customer.email, customer.phone, customer.bill_profile_id) == (
        "ap@harbor.example",
        "(555) 010-7788",
        pull_world.bill_profile,
    )
    assert customer.billing_address is not None
    address = customer.billing_address
    assert (address.line1, address.city, address.region, address.postal_code) == (
        "12 Pier Rd",
        "Monterey",
        "CA",
        "93940",
    )

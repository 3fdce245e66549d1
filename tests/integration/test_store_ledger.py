"""The write ledger's items: an intent round-trips with its identity, is listed while open, and the link
transaction settles it; a link refused as stale leaves it open."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qbosync.store.ledger import DocumentIdentity, WriteIntent, WriteLedger
from qbosync.store.links import Link, LinkRepository, StaleSourceVersion

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _intent(source_id: str = "pay_000001") -> WriteIntent:
    return WriteIntent(
        tenant_id="acme",
        link_entity="Payment",
        qbo_entity="Payment",
        source_id=source_id,
        version=3,
        operation="create",
        request_id="e09536919a79f0c16505b617bf382467",
        started_at=AT,
        identity=DocumentIdentity(
            field_name="PaymentRefNum", value="PMT-1", customer_id="58", marker=f"[qbosync:{source_id}]"
        ),
    )


def _link(version: int) -> Link:
    return Link(
        tenant_id="acme",
        entity="Payment",
        source_id="pay_000001",
        qbo_id="9",
        source_version=version,
        updated_at=AT,
    )


@pytest.mark.integration
def test_given_an_intent_when_read_back_then_it_is_whole_and_listed_as_ambiguous(main_table: str) -> None:
    ledger = WriteLedger()
    ledger.begin(_intent())
    ledger.begin(_intent("pay_000002"))

    assert ledger.open("acme", "Payment", "pay_000001") == _intent()
    assert [intent.source_id for intent in ledger.ambiguous("acme")] == ["pay_000001", "pay_000002"]
    assert list(ledger.ambiguous("other-tenant")) == []


@pytest.mark.integration
def test_given_an_open_intent_when_the_link_is_recorded_with_its_settlement_then_both_happen(
    main_table: str,
) -> None:
    ledger, links = WriteLedger(), LinkRepository()
    ledger.begin(_intent())

    links.put(_link(3), together=[ledger.settle_op("acme", "Payment", "pay_000001")])

    assert ledger.open("acme", "Payment", "pay_000001") is None
    assert links.get("acme", "Payment", "pay_000001") == _link(3)


@pytest.mark.integration
def test_given_a_newer_link_when_an_older_one_is_recorded_with_a_settlement_then_neither_happens(
    main_table: str,
) -> None:
    ledger, links = WriteLedger(), LinkRepository()
    links.put(_link(5))
    ledger.begin(_intent())

    with pytest.raises(StaleSourceVersion):
        links.put(_link(3), together=[ledger.settle_op("acme", "Payment", "pay_000001")])

    assert ledger.open("acme", "Payment", "pay_000001") == _intent()
    assert links.get("acme", "Payment", "pay_000001") == _link(5)


@pytest.mark.integration
def test_given_an_open_write_when_another_begins_unless_open_then_it_is_refused_and_the_open_one_kept(
    main_table: str,
) -> None:
    ledger = WriteLedger()
    assert ledger.begin_unless_open(_intent()) is True

    later = _intent().model_copy(update={"version": 4, "request_id": "f" * 32})

    assert ledger.begin_unless_open(later) is False
    assert ledger.open("acme", "Payment", "pay_000001") == _intent()


@pytest.mark.integration
def test_given_a_batch_of_intents_when_some_are_settled_then_only_the_rest_stay_open(main_table: str) -> None:
    ledger = WriteLedger(sleep=lambda _s: None)
    ledger.begin_many([_intent(f"cus_{n}").model_copy(update={"link_entity": "Customer"}) for n in range(30)])

    ledger.settle_many("acme", "Customer", [f"cus_{n}" for n in range(28)])

    assert ledger.open_source_ids("acme", "Customer") == {"cus_28", "cus_29"}
    assert ledger.open_source_ids("acme", "Payment") == set()

"""The Rev.io adapter, as the registry builds it for a tenant, against the Rev.io emulator process over
loopback: every object read and mapped, the writes qbosync makes, throttling, and the contract kit
passing through the contract front over the adapter."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.revio_emulator.contract_check import check_revio
from qbosync.source.config import SourceAdapterCredentials, SourceAdapterKind, TenantSourceConfig
from qbosync.source.kit import Verdict
from qbosync.source.kit.rules import ContractRule
from qbosync.source.models import NewSourceCustomer, NewSourcePayment, SourceCustomerUpdate
from qbosync.source.port import SourcePort
from qbosync.source.registry import default_registry
from qbosync.source.revio.adapter import RevioAdapter
from tests.integration.test_source_sandbox_process import REPO, STARTUP_SECONDS

SEED = {"customers": 25, "products": 8, "bills": 9}


@pytest.fixture(scope="module")
def emulator() -> Iterator[dict[str, Any]]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "common"), str(REPO)])}
    arguments = [f"--{name}={count}" for name, count in SEED.items()]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.revio_emulator", "--port", "0", *arguments],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        first = lines.get(timeout=STARTUP_SECONDS)
        assert first.startswith("READY "), first
        yield json.loads(first.removeprefix("READY "))
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def adapter(emulator: dict[str, Any]) -> Iterator[SourcePort]:
    config = TenantSourceConfig(
        adapter=SourceAdapterKind.REVIO,
        base_url=emulator["base_url"],
        options={"client_code": emulator["client_code"]},
    )
    secrets = SourceAdapterCredentials.model_validate(
        {key: emulator[key] for key in ("username", "password", "subscription_key")}
    )
    built = default_registry().build("acme", config, secrets, default_base_url="http://unused")
    assert isinstance(built, RevioAdapter)
    yield built
    built.close()


def walk(list_page: Any, limit: int = 4) -> list[Any]:
    items, cursor = [], None
    while True:
        page = list_page(cursor=cursor, limit=limit)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items


def test_given_the_seeded_emulator_when_every_list_is_walked_then_each_record_comes_once_mapped(
    adapter: SourcePort,
) -> None:
    customers = walk(adapter.list_customers)
    products = walk(adapter.list_products)
    invoices = walk(adapter.list_invoices)
    payments = walk(adapter.list_payments)
    credits = walk(adapter.list_credit_notes)

    assert len({c.id for c in customers}) == len(customers) >= SEED["customers"]
    assert len({p.id for p in products}) == len(products) >= SEED["products"]
    assert len(invoices) >= SEED["bills"] and all(i.lines for i in invoices)
    assert all(i.total == sum((line.amount for line in i.lines), Decimal(0)) for i in invoices)
    status = {invoice.id: invoice.status for invoice in invoices}
    settled = [p.applied_to[0].invoice_id for p in payments if p.applied_to and p.status == "posted"]
    assert settled and all(status[invoice_id] == "paid" for invoice_id in settled)  # seeded in full
    assert sorted(c.kind for c in credits) == ["credit", "write_off"]


def test_given_reference_lists_when_read_then_every_code_products_and_customers_use_is_listed(
    adapter: SourcePort,
) -> None:
    types = {e.code for e in adapter.list_product_types()}
    ledgers = {e.code for e in adapter.list_gl_codes()}
    taxes = {e.code for e in adapter.list_tax_codes()}
    profiles = {e.code for e in adapter.list_bill_profiles()}

    assert all({p.product_type} <= types and {p.gl_code} <= ledgers for p in walk(adapter.list_products, 50))
    assert all({p.tax_code} <= taxes for p in walk(adapter.list_products, 50))
    assert all({c.bill_profile_id} <= profiles for c in walk(adapter.list_customers, 50))


def test_given_writes_from_qbo_when_made_twice_then_rev_io_has_each_once(
    adapter: SourcePort, emulator: dict[str, Any]
) -> None:
    customer = adapter.create_customer(
        NewSourceCustomer(display_name="Globex", email="ap@globex.example", bill_profile_id="1"),
        "realm:cust:9",
    )
    assert (
        adapter.create_customer(
            NewSourceCustomer(display_name="Globex", email="ap@globex.example", bill_profile_id="1"),
            "realm:cust:9",
        ).id
        == customer.id
    )
    renamed = adapter.update_customer(customer.id, SourceCustomerUpdate(display_name="Globex Corp"))
    payment = NewSourcePayment(
        customer_id=customer.id, date=date(2026, 3, 1), amount=Decimal("25.00"), method="ACH"
    )
    paid = adapter.create_payment(payment, "realm:pay:3")
    voided = adapter.void_payment(adapter.create_payment(payment, "realm:pay:3").id)

    stats = httpx.get(emulator["control_url"] + "/stats").json()["requests"]
    assert (renamed.display_name, renamed.version) == ("Globex Corp", customer.version + 1)
    assert (voided.id, voided.status, voided.version) == (paid.id, "void", paid.version + 1)
    assert (stats["POST /v1/Customers"], stats["POST /v1/Payments"]) == (1, 1)


def test_given_rev_io_throttles_when_read_then_the_adapter_retries_after_the_wait_it_names(
    adapter: SourcePort, emulator: dict[str, Any]
) -> None:
    httpx.post(emulator["control_url"] + "/faults", json={"status": 429, "count": 2, "retry_after": 0})

    assert len(adapter.list_bill_profiles()) == 2


def test_given_the_contract_front_over_the_adapter_when_the_kit_runs_then_every_rule_passes() -> None:
    report = check_revio()

    assert report.failed == [], report.render()
    assert report.results[ContractRule.WEBHOOK_EMITTED].verdict is Verdict.PASS
    assert report.results[ContractRule.UPDATED_SINCE].verdict is Verdict.PASS

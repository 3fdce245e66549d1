"""The rules a sandbox company enforces on writes, as QBO does: names, SyncToken, references, money."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from local.qbo_sandbox.company import ChangeEvent, Company
from local.qbo_sandbox.faultbody import COMPANY_TIMEZONE, QboFaultError
from local.qbo_sandbox.seed import seed_company

START = datetime(2026, 11, 2, 9, 30, tzinfo=COMPANY_TIMEZONE)


class SteppingClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.moment = START

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def company(clock: SteppingClock) -> Company:
    seeded = seed_company("4620816365", "Sandbox Company_US_1", 7, now=START)
    seeded.clock = clock
    return seeded


def refusal(action: Any, *args: Any, **kwargs: Any) -> QboFaultError:
    with pytest.raises(QboFaultError) as caught:
        action(*args, **kwargs)
    return caught.value


def first(company: Company, entity: str, **where: str) -> dict[str, Any]:
    for record in company.records[entity].values():
        if all(record.get(k) == v for k, v in where.items()):
            return company.read(entity, record["Id"])
    raise AssertionError(f"no {entity} with {where}")


def new_customer(company: Company, name: str) -> dict[str, Any]:
    return company.create("Customer", {"DisplayName": name})


def invoice_for(company: Company, customer: dict[str, Any], *amounts: float, **extra: Any) -> dict[str, Any]:
    item = first(company, "Item", Name="Design")
    lines = [
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": a,
            "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}},
        }
        for a in amounts
    ]
    return company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": lines, **extra})


def pay(
    company: Company, customer: dict[str, Any], total: float, *applied: tuple[str, str, float]
) -> dict[str, Any]:
    lines = [
        {"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": kind}]}
        for kind, txn_id, amount in applied
    ]
    return company.create(
        "Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": total, "Line": lines}
    )


# ----- names ------------------------------------------------------------------------------------------


def test_given_a_vendor_name_when_a_customer_takes_it_then_6240_names_the_shared_namespace(
    company: Company,
) -> None:
    vendor = next(iter(company.records["Vendor"].values()))
    err = refusal(company.create, "Customer", {"DisplayName": vendor["DisplayName"].upper()})
    assert (err.status, err.code, err.message) == (400, "6240", "Duplicate Name Exists Error")
    assert "Another customer, vendor or employee is already using this name" in err.detail


def test_given_an_employee_name_when_a_vendor_takes_it_then_it_is_refused(company: Company) -> None:
    assert refusal(company.create, "Vendor", {"DisplayName": "Emily Platt"}).code == "6240"


def test_given_an_item_name_when_another_item_takes_it_then_the_item_variant_of_6240_is_used(
    company: Company,
) -> None:
    err = refusal(
        company.create, "Item", {"Name": "Design", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
    )
    assert err.code == "6240"
    assert "Another Item is already using this name" in err.detail


def test_given_name_parts_only_when_a_customer_is_created_then_display_name_is_built(
    company: Company,
) -> None:
    created = company.create("Customer", {"Title": "Dr.", "GivenName": "Ada", "FamilyName": "Lovelace"})
    assert created["DisplayName"] == "Dr. Ada Lovelace"


def test_given_a_colon_in_a_name_when_created_then_it_is_refused(company: Company) -> None:
    assert refusal(company.create, "Customer", {"DisplayName": "Parent:Child"}).code == "6000"


def test_given_an_email_without_a_dot_when_created_then_it_is_refused(company: Company) -> None:
    body = {"DisplayName": "Mailer", "PrimaryEmailAddr": {"Address": "someone@localhost"}}
    assert refusal(company.create, "Customer", body).code == "6000"


def test_given_a_string_where_a_number_goes_when_created_then_2010_is_returned(company: Company) -> None:
    err = refusal(company.create, "Item", {"Name": "Odd", "Type": "Service", "UnitPrice": "ten"})
    assert (err.code, err.element) == ("2010", "UnitPrice")


# ----- create, update, SyncToken ----------------------------------------------------------------------


def test_given_a_new_customer_when_created_then_qbo_metadata_is_assigned(company: Company) -> None:
    created = new_customer(company, "Fresh Start LLC")
    assert (created["SyncToken"], created["domain"], created["sparse"]) == ("0", "QBO", False)
    assert created["MetaData"]["CreateTime"] == "2026-11-02T09:30:00-08:00"


def test_given_an_old_synctoken_when_updated_then_5010_stale_object_is_returned(company: Company) -> None:
    created = new_customer(company, "Stale Co")
    company.update("Customer", {**created, "Notes": "first"})
    err = refusal(company.update, "Customer", {**created, "Notes": "second"})
    assert (err.code, err.message) == ("5010", "Stale Object Error")
    assert err.detail.startswith("Stale Object Error : You and root were working on this at the same time.")


def test_given_a_full_update_when_a_field_is_left_out_then_it_is_cleared(company: Company) -> None:
    created = company.create("Customer", {"DisplayName": "Full Co", "Notes": "keep?"})
    updated = company.update("Customer", {"Id": created["Id"], "SyncToken": "0", "DisplayName": "Full Co"})
    assert "Notes" not in updated
    assert updated["SyncToken"] == "1"


def test_given_a_sparse_update_when_a_field_is_left_out_then_it_is_kept(company: Company) -> None:
    created = company.create("Customer", {"DisplayName": "Sparse Co", "Notes": "keep"})
    updated = company.update(
        "Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Sparse Inc"}
    )
    assert (updated["Notes"], updated["CompanyName"]) == ("keep", "Sparse Inc")


def test_given_a_name_list_entity_when_deleted_then_qbo_refuses_and_suggests_inactive(
    company: Company,
) -> None:
    created = new_customer(company, "Forever Co")
    err = refusal(company.delete, "Customer", {"Id": created["Id"], "SyncToken": "0"})
    assert err.code == "500"
    assert "Active:false" in err.detail


def test_given_a_missing_id_when_read_then_610_object_not_found(company: Company) -> None:
    assert refusal(company.read, "Customer", "9999").code == "610"


# ----- references and document numbers ----------------------------------------------------------------


def test_given_an_unknown_customer_ref_when_invoicing_then_2500_invalid_reference(company: Company) -> None:
    fake = {"Id": "9999"}
    assert refusal(invoice_for, company, fake, 10.0).code == "2500"


def test_given_an_inactive_item_when_invoicing_then_610_object_not_found(company: Company) -> None:
    item = first(company, "Item", Name="Design")
    company.update("Item", {**item, "sparse": True, "Active": False})
    customer = new_customer(company, "Inactive Item Buyer")
    assert refusal(invoice_for, company, customer, 10.0).code == "610"


def test_given_a_service_item_without_income_account_when_created_then_it_is_refused(
    company: Company,
) -> None:
    assert refusal(company.create, "Item", {"Name": "No Account", "Type": "Service"}).code == "2020"


def test_given_an_expense_account_as_income_account_when_created_then_it_is_refused(company: Company) -> None:
    expense = first(company, "Account", Name="Advertising")
    body = {"Name": "Wrong Account", "Type": "Service", "IncomeAccountRef": {"value": expense["Id"]}}
    assert refusal(company.create, "Item", body).code == "6000"


def test_given_no_doc_number_when_invoicing_then_the_next_number_is_assigned(company: Company) -> None:
    customer = new_customer(company, "Numbered Co")
    assert int(invoice_for(company, customer, 5.0)["DocNumber"]) + 1 == int(
        invoice_for(company, customer, 5.0)["DocNumber"]
    )


def test_given_a_used_doc_number_when_invoicing_then_6140_duplicate_document_number(company: Company) -> None:
    customer = new_customer(company, "Dup Doc Co")
    invoice_for(company, customer, 5.0, DocNumber="INV-7")
    assert refusal(invoice_for, company, customer, 5.0, DocNumber="INV-7").code == "6140"


def test_given_allow_duplicates_when_a_doc_number_repeats_then_it_is_accepted(company: Company) -> None:
    customer = new_customer(company, "Dup Ok Co")
    invoice_for(company, customer, 5.0, DocNumber="INV-8")
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "DocNumber": "INV-8",
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {}}],
    }
    assert company.create("Invoice", body, allow_duplicate_doc_number=True)["DocNumber"] == "INV-8"


def test_given_a_22_character_doc_number_when_invoicing_then_it_is_refused(company: Company) -> None:
    customer = new_customer(company, "Long Doc Co")
    assert refusal(invoice_for, company, customer, 5.0, DocNumber="X" * 22).code == "2050"


# ----- money -----------------------------------------------------------------------------------------


def test_given_lines_when_invoiced_then_total_and_subtotal_line_follow_from_them(company: Company) -> None:
    customer = new_customer(company, "Totals Co")
    invoice = invoice_for(company, customer, 100.0, 25.5)
    assert (invoice["TotalAmt"], invoice["Balance"]) == (125.5, 125.5)
    assert invoice["Line"][-1] == {
        "Amount": 125.5,
        "DetailType": "SubTotalLineDetail",
        "SubTotalLineDetail": {},
    }


def test_given_qty_and_price_that_disagree_with_amount_when_invoiced_then_6070(company: Company) -> None:
    customer = new_customer(company, "Mismatch Co")
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": 50,
                "SalesItemLineDetail": {"Qty": 2, "UnitPrice": 30},
            }
        ],
    }
    assert refusal(company.create, "Invoice", body).code == "6070"


def test_given_a_partial_payment_when_applied_then_invoice_balance_and_links_change(company: Company) -> None:
    customer = new_customer(company, "Partial Co")
    invoice = invoice_for(company, customer, 100.0)
    payment = pay(company, customer, 40.0, ("Invoice", invoice["Id"], 40.0))
    after = company.read("Invoice", invoice["Id"])
    assert (after["Balance"], after["SyncToken"]) == (60.0, "1")
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert company.read("Customer", customer["Id"])["Balance"] == 60.0


def test_given_an_overpayment_of_an_invoice_line_when_applied_then_it_is_refused(company: Company) -> None:
    customer = new_customer(company, "Overpay Co")
    invoice = invoice_for(company, customer, 100.0)
    assert refusal(pay, company, customer, 150.0, ("Invoice", invoice["Id"], 150.0)).code == "6000"


def test_given_a_payment_larger_than_applied_when_created_then_the_rest_is_unapplied(
    company: Company,
) -> None:
    customer = new_customer(company, "Unapplied Co")
    invoice = invoice_for(company, customer, 100.0)
    payment = pay(company, customer, 130.0, ("Invoice", invoice["Id"], 100.0))
    assert payment["UnappliedAmt"] == 30.0
    assert company.read("Customer", customer["Id"])["Balance"] == -30.0


def test_given_a_credit_memo_when_created_then_customer_balance_drops(company: Company) -> None:
    customer = new_customer(company, "Credit Co")
    invoice_for(company, customer, 100.0)
    memo = company.create(
        "CreditMemo",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 30}],
        },
    )
    assert (memo["RemainingCredit"], company.read("Customer", customer["Id"])["Balance"]) == (30.0, 70.0)


def test_given_a_credit_memo_applied_with_a_payment_when_settled_then_both_are_used(company: Company) -> None:
    customer = new_customer(company, "Apply Credit Co")
    invoice = invoice_for(company, customer, 100.0)
    memo = company.create(
        "CreditMemo",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 30}],
        },
    )
    pay(company, customer, 70.0, ("Invoice", invoice["Id"], 100.0), ("CreditMemo", memo["Id"], 30.0))
    assert company.read("Invoice", invoice["Id"])["Balance"] == 0.0
    assert company.read("CreditMemo", memo["Id"])["RemainingCredit"] == 0.0
    assert company.read("Customer", customer["Id"])["Balance"] == 0.0


# ----- delete and void -------------------------------------------------------------------------------


def test_given_an_invoice_with_a_payment_when_deleted_then_it_is_refused(company: Company) -> None:
    customer = new_customer(company, "Linked Co")
    invoice = invoice_for(company, customer, 100.0)
    pay(company, customer, 100.0, ("Invoice", invoice["Id"], 100.0))
    current = company.read("Invoice", invoice["Id"])
    assert refusal(company.delete, "Invoice", current).code == "6000"


def test_given_an_invoice_with_a_payment_when_voided_then_it_is_zeroed_and_the_payment_unapplied(
    company: Company,
) -> None:
    customer = new_customer(company, "Void Co")
    invoice = invoice_for(company, customer, 100.0)
    payment = pay(company, customer, 100.0, ("Invoice", invoice["Id"], 100.0))
    voided = company.void("Invoice", company.read("Invoice", invoice["Id"]))
    assert (voided["TotalAmt"], voided["Balance"], voided["PrivateNote"]) == (0.0, 0.0, "Voided")
    assert all(line["Amount"] == 0.0 for line in voided["Line"])
    assert company.read("Payment", payment["Id"])["UnappliedAmt"] == 100.0


def test_given_a_payment_when_deleted_then_the_invoice_balance_is_restored(company: Company) -> None:
    customer = new_customer(company, "Undo Co")
    invoice = invoice_for(company, customer, 100.0)
    payment = pay(company, customer, 100.0, ("Invoice", invoice["Id"], 100.0))
    answer = company.delete("Payment", {"Id": payment["Id"], "SyncToken": "0"})
    assert answer == {"status": "Deleted", "domain": "QBO", "Id": payment["Id"]}
    assert company.read("Invoice", invoice["Id"])["Balance"] == 100.0
    assert company.read("Invoice", invoice["Id"])["LinkedTxn"] == [], "QBO sends an empty LinkedTxn"


def test_given_a_payment_when_voided_then_it_keeps_its_record_with_nothing_applied(company: Company) -> None:
    customer = new_customer(company, "Void Pay Co")
    invoice = invoice_for(company, customer, 100.0)
    payment = pay(company, customer, 100.0, ("Invoice", invoice["Id"], 100.0))
    voided = company.void("Payment", {"Id": payment["Id"], "SyncToken": "0", "sparse": True})
    assert (voided["TotalAmt"], voided["Line"], voided["SyncToken"]) == (0.0, [], "1")
    assert company.read("Invoice", invoice["Id"])["Balance"] == 100.0


def test_given_a_voided_invoice_when_updated_then_it_is_refused(company: Company) -> None:
    customer = new_customer(company, "Frozen Co")
    invoice = invoice_for(company, customer, 10.0)
    voided = company.void("Invoice", invoice)
    assert refusal(company.update, "Invoice", {**voided, "PrivateNote": "again"}).code == "6000"


# ----- change log, listeners, snapshot ----------------------------------------------------------------


def test_given_a_listener_when_a_customer_is_created_then_it_hears_a_create_event(company: Company) -> None:
    heard: list[ChangeEvent] = []
    company.listeners.append(heard.append)
    created = new_customer(company, "Heard Co")
    assert [(e.entity, e.entity_id, e.operation) for e in heard] == [("Customer", created["Id"], "Create")]


def test_given_a_failing_listener_when_a_write_happens_then_the_write_still_succeeds(
    company: Company,
) -> None:
    def broken(event: ChangeEvent) -> None:
        raise RuntimeError("listener down")

    company.listeners.append(broken)
    assert new_customer(company, "Resilient Co")["Id"]


def test_given_changes_when_cdc_is_asked_then_active_records_come_before_tombstones(
    company: Company, clock: SteppingClock
) -> None:
    customer = new_customer(company, "Cdc Co")
    invoice = invoice_for(company, customer, 10.0)
    clock.advance(minutes=5)
    company.delete("Invoice", invoice)
    answer = company.changes_since(["Customer", "Invoice"], START - timedelta(seconds=1))
    assert [r["Id"] for r in answer[0]["Customer"]] == [customer["Id"]]
    assert answer[1]["Invoice"] == [
        {
            "status": "Deleted",
            "domain": "QBO",
            "Id": invoice["Id"],
            "MetaData": {"LastUpdatedTime": "2026-11-02T09:35:00-08:00"},
        }
    ]


def test_given_no_changes_when_cdc_is_asked_then_the_answer_is_one_empty_object(company: Company) -> None:
    assert company.changes_since(["Customer"], START) == [{}]


def test_given_a_window_older_than_30_days_when_cdc_is_asked_then_it_is_refused(company: Company) -> None:
    assert refusal(company.changes_since, ["Customer"], START - timedelta(days=31)).status == 400


def test_given_taxcode_when_cdc_is_asked_then_it_is_unsupported(company: Company) -> None:
    assert refusal(company.changes_since, ["TaxCode"], START).code == "500"


def test_given_an_inactive_customer_when_queried_without_active_then_it_is_hidden(company: Company) -> None:
    created = new_customer(company, "Hidden Co")
    company.update("Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    shown = company.query("select * from Customer where DisplayName = 'Hidden Co'")
    explicit = company.query("select * from Customer where DisplayName = 'Hidden Co' and Active = false")
    assert (shown, len(explicit["Customer"])) == ({}, 1)


def test_given_an_unknown_field_when_queried_then_a_query_validation_error_names_it(company: Company) -> None:
    assert (
        "property 'Colour' is not queryable"
        in refusal(company.query, "select * from Item where Colour = 'x'").detail
    )


def test_given_a_lowercase_entity_when_queried_then_it_is_refused(company: Company) -> None:
    assert refusal(company.query, "select * from customer").code == "4001", "entity names are case-sensitive"


def test_given_a_remembered_requestid_when_replayed_then_the_original_answer_returns(
    company: Company,
) -> None:
    company.remember("req-1", 200, {"Customer": {"Id": "77"}})
    assert company.replay("req-1") == (200, {"Customer": {"Id": "77"}})


def test_given_a_company_when_snapshotted_and_restored_then_state_and_counters_survive(
    company: Company,
) -> None:
    created = new_customer(company, "Snapshot Co")
    company.remember("req-2", 200, {"Customer": created})
    restored = Company.from_snapshot(company.to_snapshot())
    assert restored.read("Customer", created["Id"]) == created
    assert restored.replay("req-2") == (200, {"Customer": created})
    assert int(new_customer(restored, "After Restore Co")["Id"]) == int(created["Id"]) + 1


def test_given_the_same_seed_when_seeded_twice_then_the_records_are_identical() -> None:
    one = seed_company("1", "Co", 42, now=START).to_snapshot()["records"]
    two = seed_company("1", "Co", 42, now=START).to_snapshot()["records"]
    assert one == two


def test_given_a_seeded_company_when_inspected_then_it_has_what_a_new_sandbox_has(company: Company) -> None:
    accounts = {a["Name"]: a for a in company.records["Account"].values()}
    assert accounts["Undeposited Funds"]["AccountType"] == "Other Current Asset"
    assert {"Services", "Sales of Product Income", "Design income", "Landscaping Services"} <= set(accounts)
    assert {"TAX", "NON"} <= set(company.records["TaxCode"])
    assert company.settings("Preferences")["ReportPrefs"]["ReportBasis"] == "Accrual"
    assert len(company.records["Customer"]) == 10


def test_given_an_impossible_date_when_invoicing_then_2010_names_the_field(company: Company) -> None:
    customer = new_customer(company, "Calendar Co")
    err = refusal(invoice_for, company, customer, 5.0, TxnDate="2026-13-45")
    assert (err.code, err.element) == ("2010", "TxnDate")


def test_given_a_sub_customer_when_invoiced_then_the_parent_balance_with_jobs_includes_it(
    company: Company,
) -> None:
    parent = new_customer(company, "Parent Co")
    child = company.create("Customer", {"DisplayName": "Job One", "ParentRef": {"value": parent["Id"]}})
    invoice_for(company, child, 40.0)
    after = company.read("Customer", parent["Id"])
    assert (child["FullyQualifiedName"], child["Job"], child["Level"]) == ("Parent Co:Job One", True, 1)
    assert (after["Balance"], after["BalanceWithJobs"]) == (0.0, 40.0)


def test_given_a_sparse_update_that_blanks_display_name_when_applied_then_the_name_stays(
    company: Company,
) -> None:
    created = new_customer(company, "Keep Name Co")
    updated = company.update(
        "Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "DisplayName": ""}
    )
    assert updated["DisplayName"] == "Keep Name Co"


def test_given_a_percent_discount_line_when_invoiced_then_the_total_is_reduced(company: Company) -> None:
    customer = new_customer(company, "Discount Co")
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [
            {"DetailType": "SalesItemLineDetail", "Amount": 200, "SalesItemLineDetail": {}},
            {
                "DetailType": "DiscountLineDetail",
                "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10},
            },
        ],
    }
    assert company.create("Invoice", body)["TotalAmt"] == 180.0


def test_given_a_voided_invoice_when_a_payment_targets_it_then_it_is_refused(company: Company) -> None:
    customer = new_customer(company, "Dead Invoice Co")
    invoice = company.void("Invoice", invoice_for(company, customer, 50.0))
    assert refusal(pay, company, customer, 50.0, ("Invoice", invoice["Id"], 50.0)).code == "6000"


def test_given_an_invoice_of_another_customer_when_paid_then_it_is_refused(company: Company) -> None:
    owner = new_customer(company, "Owner Co")
    stranger = new_customer(company, "Stranger Co")
    invoice = invoice_for(company, owner, 50.0)
    assert refusal(pay, company, stranger, 50.0, ("Invoice", invoice["Id"], 50.0)).code == "6000"


def test_given_a_payment_when_applied_then_listeners_hear_the_invoice_update_too(company: Company) -> None:
    customer = new_customer(company, "Webhook Co")
    invoice = invoice_for(company, customer, 50.0)
    heard: list[ChangeEvent] = []
    company.listeners.append(heard.append)
    payment = pay(company, customer, 50.0, ("Invoice", invoice["Id"], 50.0))
    assert [(e.entity, e.entity_id, e.operation) for e in heard] == [
        ("Payment", payment["Id"], "Create"),
        ("Invoice", invoice["Id"], "Update"),
    ]


def test_given_an_invoice_with_a_payment_when_its_total_drops_below_the_payment_then_it_is_refused(
    company: Company,
) -> None:
    customer = new_customer(company, "Shrink Co")
    invoice = invoice_for(company, customer, 100.0)
    pay(company, customer, 80.0, ("Invoice", invoice["Id"], 80.0))
    current = company.read("Invoice", invoice["Id"])
    current["Line"] = [{"DetailType": "SalesItemLineDetail", "Amount": 50, "SalesItemLineDetail": {}}]
    assert refusal(company.update, "Invoice", current).code == "6000"

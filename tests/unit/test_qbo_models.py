"""Wire models: QBO's casing both ways, unknown fields kept, money exact."""

from __future__ import annotations

from decimal import Decimal

from qbosync.qbo.models import Customer, Invoice, Payment, Preferences, QboClass, Ref


def test_given_a_qbo_customer_when_parsed_then_pascal_and_lowercase_fields_map() -> None:
    customer = Customer.from_qbo(
        {
            "Id": "7",
            "SyncToken": "3",
            "DisplayName": "Acme",
            "sparse": False,
            "domain": "QBO",
            "Balance": 10.1,
        }
    )
    assert (customer.id, customer.sync_token, customer.display_name, customer.domain) == (
        "7",
        "3",
        "Acme",
        "QBO",
    )
    assert customer.balance == Decimal("10.1")


def test_given_unknown_fields_when_round_tripped_then_they_are_kept() -> None:
    customer = Customer.from_qbo({"Id": "7", "DisplayName": "Acme", "WebAddr": {"URI": "https://acme.test"}})
    assert customer.to_qbo()["WebAddr"] == {"URI": "https://acme.test"}


def test_given_a_model_built_in_python_when_serialised_then_nulls_are_left_out() -> None:
    body = Customer(display_name="Acme", sparse=True).to_qbo()
    assert body == {"DisplayName": "Acme", "sparse": True}


def test_given_an_invoice_when_serialised_then_lines_refs_and_money_use_wire_names() -> None:
    invoice = Invoice.from_qbo(
        {
            "CustomerRef": {"value": "1", "name": "Acme"},
            "TxnDate": "2026-01-31",
            "Line": [
                {
                    "Amount": "150.25",
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": 1, "UnitPrice": "150.25"},
                }
            ],
        }
    )
    body = invoice.to_qbo()
    assert body["CustomerRef"] == {"value": "1", "name": "Acme"}
    assert body["TxnDate"] == "2026-01-31"
    line = body["Line"][0]
    assert line["Amount"] == 150.25
    assert line["SalesItemLineDetail"]["ItemRef"] == {"value": "3"}


def test_given_a_payment_with_linked_invoices_when_parsed_then_links_are_typed() -> None:
    payment = Payment.from_qbo(
        {"TotalAmt": 25, "Line": [{"Amount": 25, "LinkedTxn": [{"TxnId": "9", "TxnType": "Invoice"}]}]}
    )
    assert payment.line[0].linked_txn[0].txn_id == "9"
    assert payment.to_qbo()["TotalAmt"] == 25


def test_given_a_deleted_cdc_entry_when_parsed_then_it_reports_deleted() -> None:
    assert QboClass.from_qbo({"Id": "4", "status": "Deleted", "domain": "QBO"}).is_deleted


def test_given_preferences_with_unknown_sections_when_parsed_then_known_ones_are_read() -> None:
    prefs = Preferences.from_qbo(
        {"ReportPrefs": {"ReportBasis": "Accrual"}, "OtherPrefs": {"NameValue": []}, "TaxPrefs": {}}
    )
    assert prefs.report_prefs is not None and prefs.report_prefs.report_basis == "Accrual"


def test_given_a_ref_built_by_name_when_serialised_then_keys_stay_lowercase() -> None:
    assert Ref(value="1", name="Services").to_qbo() == {"value": "1", "name": "Services"}

"""Building QBO records with python-quickbooks' own objects, the way an integrator would."""

from __future__ import annotations

from decimal import Decimal

from quickbooks import QuickBooks
from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment, PaymentLine

from tests.conformance.harness import unique_name


def ref(value: str, name: str | None = None) -> Ref:
    reference = Ref()
    reference.value = str(value)
    if name is not None:
        reference.name = name
    return reference


def income_account(qb: QuickBooks) -> Account:
    """A seeded income account (every new US QBO company has e.g. "Services" and "Sales")."""
    accounts = Account.where("AccountType = 'Income'", qb=qb)
    assert accounts, (
        "a fresh QBO company has Income accounts (e.g. 'Services', 'Sales of Product Income'); "
        "the sandbox's query `AccountType = 'Income'` found none"
    )
    return accounts[0]


def create_customer(qb: QuickBooks, prefix: str = "Customer", **fields: object) -> Customer:
    customer = Customer()
    customer.DisplayName = unique_name(prefix)
    for key, value in fields.items():
        setattr(customer, key, value)
    return customer.save(qb=qb)


def create_item(qb: QuickBooks, account: Account, unit_price: float = 100) -> Item:
    item = Item()
    item.Name = unique_name("Service")
    item.Type = "Service"
    item.UnitPrice = unit_price
    item.IncomeAccountRef = ref(account.Id, account.Name)
    return item.save(qb=qb)


def sales_line(item: Item, amount: float | Decimal, qty: int = 1) -> SalesItemLine:
    line = SalesItemLine()
    line.Amount = amount
    line.DetailType = "SalesItemLineDetail"
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = ref(item.Id, item.Name)
    line.SalesItemLineDetail.Qty = qty
    line.SalesItemLineDetail.UnitPrice = amount / qty
    return line


def create_invoice(
    qb: QuickBooks, customer: Customer, item: Item, amount: float = 100, doc_number: str | None = None
) -> Invoice:
    invoice = Invoice()
    invoice.CustomerRef = ref(customer.Id, customer.DisplayName)
    invoice.Line.append(sales_line(item, amount))
    if doc_number is not None:
        invoice.DocNumber = doc_number
    return invoice.save(qb=qb)


def create_credit_memo(qb: QuickBooks, customer: Customer, item: Item, amount: float = 25) -> CreditMemo:
    memo = CreditMemo()
    memo.CustomerRef = ref(customer.Id, customer.DisplayName)
    memo.Line.append(sales_line(item, amount))
    return memo.save(qb=qb)


def create_payment(qb: QuickBooks, customer: Customer, invoice: Invoice, amount: float) -> Payment:
    payment = Payment()
    payment.CustomerRef = ref(customer.Id, customer.DisplayName)
    payment.TotalAmt = amount
    line = PaymentLine()
    line.Amount = amount
    line.LinkedTxn.append(invoice.to_linked_txn())
    payment.Line.append(line)
    return payment.save(qb=qb)


def money(value: object) -> float:
    return round(float(str(value)), 2)

"""Deterministic seed data: the reference lists an admin maps from, and a configurable volume of
customers, products, invoices, payments and credit notes built from them.

The lists mirror the two product documents: Rev.io PSA maps payment methods, GL codes and product
types; Actionstep maps fee income/expense accounts, GL accounts and sales tax codes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from qbosync.source.models import (
    Address,
    AppliedAmount,
    ReferenceEntry,
    SourceAccount,
    SourceCreditNote,
    SourceCustomer,
    SourceInvoice,
    SourceLine,
    SourcePayment,
    SourceProduct,
    SourceTaxCode,
)

SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CENT = Decimal("0.01")

PAYMENT_METHODS = [
    ReferenceEntry(code="CASH", name="Cash"),
    ReferenceEntry(code="CHECK", name="Check"),
    ReferenceEntry(code="ACH", name="ACH bank transfer"),
    ReferenceEntry(code="WIRE", name="Wire transfer"),
    ReferenceEntry(code="CC-VISA", name="Credit card: Visa"),
    ReferenceEntry(code="CC-MC", name="Credit card: Mastercard"),
    ReferenceEntry(code="CC-AMEX", name="Credit card: American Express"),
    ReferenceEntry(code="PORTAL", name="Customer portal (legacy)", active=False),
]

GL_CODES = [
    ReferenceEntry(code="4000-MS", name="Managed services revenue"),
    ReferenceEntry(code="4100-HW", name="Hardware sales"),
    ReferenceEntry(code="4200-SW", name="Software and licensing"),
    ReferenceEntry(code="4300-PS", name="Professional services"),
    ReferenceEntry(code="4400-TEL", name="Telecom usage"),
    ReferenceEntry(code="4500-FEE", name="Recurring fees"),
    ReferenceEntry(code="4900-MISC", name="Other income"),
]

PRODUCT_TYPES = [
    ReferenceEntry(code="service", name="Service"),
    ReferenceEntry(code="hardware", name="Hardware"),
    ReferenceEntry(code="software", name="Software licence"),
    ReferenceEntry(code="labor", name="Labor"),
    ReferenceEntry(code="recurring-fee", name="Recurring fee"),
    ReferenceEntry(code="usage", name="Usage"),
    ReferenceEntry(code="fee", name="One-time fee"),
    ReferenceEntry(code="discount", name="Discount"),
]

ACCOUNTS = [
    SourceAccount(code="200", name="Fee income", account_type="income"),
    SourceAccount(code="205", name="Fixed fee income", account_type="income"),
    SourceAccount(code="210", name="Disbursement income", account_type="income"),
    SourceAccount(code="220", name="Hardware income", account_type="income"),
    SourceAccount(code="230", name="Subscription income", account_type="income"),
    SourceAccount(code="260", name="Interest income", account_type="income"),
    SourceAccount(code="400", name="Court and filing fees", account_type="expense"),
    SourceAccount(code="410", name="Search and courier costs", account_type="expense"),
    SourceAccount(code="090", name="Operating bank", account_type="asset"),
    SourceAccount(code="095", name="Trust bank", account_type="asset"),
    SourceAccount(code="610", name="Accounts receivable", account_type="asset"),
    SourceAccount(code="820", name="Sales tax payable", account_type="liability"),
    SourceAccount(code="880", name="Trust liability", account_type="liability"),
    SourceAccount(code="970", name="Owner's equity", account_type="equity"),
]

TAX_CODES = [
    SourceTaxCode(code="ZERO", name="Zero rate", rate=Decimal("0")),
    SourceTaxCode(code="EXEMPT", name="Exempt", rate=Decimal("0")),
    SourceTaxCode(code="CA", name="California sales tax", rate=Decimal("7.25")),
    SourceTaxCode(code="NY", name="New York sales tax", rate=Decimal("8.875")),
    SourceTaxCode(code="TX", name="Texas sales tax", rate=Decimal("6.25")),
]

BILL_PROFILES = [
    ReferenceEntry(code="BP-STD-EMAIL", name="Standard monthly, emailed"),
    ReferenceEntry(code="BP-STD-PRINT", name="Standard monthly, printed"),
    ReferenceEntry(code="BP-QUARTERLY", name="Quarterly in advance"),
    ReferenceEntry(code="BP-ANNUAL", name="Annual contract"),
]

REFERENCE_LISTS: dict[str, list[ReferenceEntry]] = {
    "payment-methods": PAYMENT_METHODS,
    "gl-codes": GL_CODES,
    "product-types": PRODUCT_TYPES,
    "accounts": list(ACCOUNTS),
    "tax-codes": list(TAX_CODES),
    "bill-profiles": BILL_PROFILES,
}


@dataclass(frozen=True)
class _ProductShape:
    """How each product type is typically billed and coded."""

    billing: str
    gl_code: str
    income_account: str
    nouns: tuple[str, ...]
    price_range: tuple[int, int]


_SHAPES: dict[str, _ProductShape] = {
    "service": _ProductShape(
        "one_time", "4300-PS", "200", ("Onboarding", "Site survey", "Migration", "Audit"), (150, 2500)
    ),
    "hardware": _ProductShape(
        "one_time", "4100-HW", "220", ("Firewall", "Switch", "Access point", "Desk phone"), (40, 3000)
    ),
    "software": _ProductShape("recurring", "4200-SW", "230", ("Licence", "Seat", "Backup plan"), (5, 120)),
    "labor": _ProductShape("one_time", "4300-PS", "205", ("Engineer hour", "After-hours call"), (85, 250)),
    "recurring-fee": _ProductShape(
        "recurring", "4500-FEE", "230", ("Managed endpoint", "Helpdesk plan", "Monitoring"), (10, 400)
    ),
    "usage": _ProductShape(
        "recurring", "4400-TEL", "200", ("Minutes bundle", "Data overage", "SMS"), (1, 60)
    ),
    "fee": _ProductShape("one_time", "4900-MISC", "210", ("Filing fee", "Courier", "Late fee"), (5, 150)),
    "discount": _ProductShape("one_time", "4000-MS", "200", ("Loyalty discount", "Promo credit"), (5, 100)),
}
_TIERS = ("Basic", "Standard", "Pro", "Enterprise", "Plus", "Lite")
_GIVEN = ("Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Edsger")
_FAMILY = ("Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen")
_COMPANY_A = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware", "Wingtip")
_COMPANY_B = ("Traders", "Legal", "Dental", "Logistics", "Foods", "Partners", "Studios", "Clinic")
_CITIES = (("Austin", "TX", "73301"), ("Albany", "NY", "12207"), ("Fresno", "CA", "93650"))


def customer_id(n: int) -> str:
    return f"cus_{n:06d}"


def product_id(n: int) -> str:
    return f"prd_{n:06d}"


def seed_customers(rng: random.Random, count: int) -> list[SourceCustomer]:
    customers = []
    for n in range(1, count + 1):
        given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
        is_company = rng.random() < 0.7
        company = f"{rng.choice(_COMPANY_A)} {rng.choice(_COMPANY_B)} {n}" if is_company else None
        city, region, postal = rng.choice(_CITIES)
        customers.append(
            SourceCustomer(
                id=customer_id(n),
                version=1,
                updated_at=SEED_EPOCH + timedelta(seconds=n),
                display_name=company or f"{given} {family} {n}",
                company_name=company,
                given_name=given,
                family_name=family,
                email=f"{given.lower()}.{family.lower()}.{n}@example.com",
                phone=f"+1-555-{n % 10000:04d}",
                billing_address=Address(
                    line1=f"{rng.randint(1, 999)} Main St",
                    city=city,
                    region=region,
                    postal_code=postal,
                    country="US",
                ),
                bill_profile_id=rng.choice(BILL_PROFILES).code,
                active=rng.random() > 0.03,
            )
        )
    return customers


def seed_products(rng: random.Random, count: int) -> list[SourceProduct]:
    products = []
    types = list(_SHAPES)
    taxable = ("ZERO", "CA", "NY", "TX", "EXEMPT")
    for n in range(1, count + 1):
        product_type = types[(n - 1) % len(types)]  # every type represented, in rotation
        shape = _SHAPES[product_type]
        low, high = shape.price_range
        name = f"{rng.choice(shape.nouns)} {rng.choice(_TIERS)} {n}"
        products.append(
            SourceProduct(
                id=product_id(n),
                version=1,
                updated_at=SEED_EPOCH + timedelta(seconds=n),
                name=name,
                sku=f"{product_type[:3].upper()}-{n:05d}",
                description=f"{name} ({product_type})",
                product_type=product_type,
                gl_code=shape.gl_code,
                income_account=shape.income_account,
                billing="recurring" if shape.billing == "recurring" else "one_time",
                tax_code=rng.choice(taxable),
                unit_price=(Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENT),
                active=rng.random() > 0.05,
            )
        )
    return products


def line_from_product(line_id: str, product: SourceProduct, quantity: Decimal) -> SourceLine:
    return SourceLine(
        id=line_id,
        product_id=product.id,
        description=product.name,
        quantity=quantity,
        unit_price=product.unit_price,
        amount=(quantity * product.unit_price).quantize(CENT),
        gl_code=product.gl_code,
        tax_code=product.tax_code,
    )


@dataclass
class SeededDocuments:
    invoices: list[SourceInvoice]
    payments: list[SourcePayment]
    credit_notes: list[SourceCreditNote]


def seed_documents(
    rng: random.Random, count: int, customers: list[SourceCustomer], products: list[SourceProduct]
) -> SeededDocuments:
    """``count`` invoices; about half paid in full, and a credit and a write-off on open ones."""
    documents = SeededDocuments([], [], [])
    if not customers or not products:
        return documents
    stamp = SEED_EPOCH + timedelta(days=1)
    for n in range(1, count + 1):
        customer = customers[rng.randrange(len(customers))]
        lines = [
            line_from_product(f"inl_{n:06d}_{k}", rng.choice(products), Decimal(rng.randint(1, 5)))
            for k in range(1, rng.randint(1, 3) + 1)
        ]
        issued = date(2026, 1, 1) + timedelta(days=rng.randint(0, 60))
        total = sum((line.amount for line in lines), Decimal("0.00"))
        paid = n % 2 == 0
        invoice = SourceInvoice(
            id=f"inv_{n:06d}",
            version=1,
            updated_at=stamp + timedelta(seconds=n),
            number=f"INV-{1000 + n}",
            customer_id=customer.id,
            issue_date=issued,
            due_date=issued + timedelta(days=30),
            currency="USD",
            lines=lines,
            total=total,
            status="paid" if paid else "open",
        )
        documents.invoices.append(invoice)
        if paid:
            number = len(documents.payments) + 1
            documents.payments.append(
                SourcePayment(
                    id=f"pay_{number:06d}",
                    version=1,
                    updated_at=stamp + timedelta(seconds=n, milliseconds=500),
                    number=f"PMT-{5000 + number}",
                    customer_id=customer.id,
                    date=issued + timedelta(days=rng.randint(1, 30)),
                    amount=total,
                    method=rng.choice([m for m in PAYMENT_METHODS if m.active]).code,
                    reference=f"REF{rng.randint(100000, 999999)}",
                    applied_to=[AppliedAmount(invoice_id=invoice.id, amount=total)],
                    status="posted",
                )
            )
    open_invoices = [invoice for invoice in documents.invoices if invoice.status == "open"]
    for number, (invoice, kind) in enumerate(zip(open_invoices, ("credit", "write_off"), strict=False), 1):
        line = invoice.lines[0]
        documents.credit_notes.append(
            SourceCreditNote(
                id=f"cn_{number:06d}",
                version=1,
                updated_at=stamp + timedelta(hours=1, seconds=number),
                number=f"CN-{300 + number}",
                kind="credit" if kind == "credit" else "write_off",
                customer_id=invoice.customer_id,
                date=invoice.issue_date + timedelta(days=5),
                lines=[line.model_copy(update={"id": f"cnl_{number:06d}_1"})],
                total=line.amount,
                applied_to=[AppliedAmount(invoice_id=invoice.id, amount=line.amount)],
                status="applied",
            )
        )
    return documents

"""QBO payments → the source: payments entered in QBO against invoices qbosync pushed are recorded in the
source (when ``sync.qbo_to_source_payments`` is on) and followed afterwards; pushed payments are
documents (drift checks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from qbosync.qbo.client import request_id_for
from qbosync.source.models import NewAppliedAmount, NewSourcePayment
from qbosync.store.links import Link, LinkState
from qbosync.sync.configuration import MappingRow, SourceDefaults, TenantSettings
from qbosync.sync.pull.context import PullOutcome, money
from qbosync.sync.pull.documents import DocumentPull
from qbosync.sync.pull.echo import is_echo, sync_token
from qbosync.sync.records.links import CREDIT_APPLICATION, new_link
from qbosync.sync.records.messages import EntityChange

CUSTOMER = "Customer"
PAYMENT = "Payment"


class PaymentPull(DocumentPull):
    """Applies QBO payment changes."""

    def _payment(  # noqa: PLR0911 - a decision table: one return per rule
        self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None
    ) -> PullOutcome:
        settings = self.settings_for(tenant_id)
        if not settings.sync.payments:
            return PullOutcome("skipped", "payment sync is off")
        link = self.links.get_by_qbo_id(tenant_id, PAYMENT, change.entity_id)
        if link is None:
            # The zero payment the push writes to apply a credit memo is linked under its own entity.
            link = self.links.get_by_qbo_id(tenant_id, CREDIT_APPLICATION, change.entity_id)
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        if link is not None and link.origin == "qbo":
            return self._qbo_payment_changed(tenant_id, settings, link, change, row)
        if link is not None:
            return self._pushed_document_changed(tenant_id, link.entity, link, change, row)
        if row is None:
            return PullOutcome("skipped", "an unlinked QBO payment was deleted")
        applied = self._applied_to_linked_invoices(tenant_id, row)
        if not applied:
            return PullOutcome("skipped", "the payment is not against an invoice qbosync synced")
        if not settings.sync.qbo_to_source_payments:
            return PullOutcome(
                "skipped",
                f"QBO payment {change.entity_id} pays synced invoice(s); recording QBO payments in the"
                " source is off (sync.qbo_to_source_payments)",
            )
        return self._record_qbo_payment(tenant_id, settings, row, applied=applied)

    def _applied_to_linked_invoices(self, tenant_id: str, row: Mapping[str, Any]) -> list[NewAppliedAmount]:
        """What a QBO payment applies to invoices qbosync pushed, by their source ids."""
        applied = []
        for qbo_invoice_id, amount in _linked_invoice_amounts(row):
            invoice_link = self.links.get_by_qbo_id(tenant_id, "Invoice", qbo_invoice_id)
            if invoice_link is None or not invoice_link.is_live or amount <= 0:
                continue
            applied.append(NewAppliedAmount(invoice_id=invoice_link.source_id, amount=amount))
        return applied

    def _record_qbo_payment(
        self,
        tenant_id: str,
        settings: TenantSettings,
        row: Mapping[str, Any],
        *,
        applied: list[NewAppliedAmount],
        replacing: Link | None = None,
    ) -> PullOutcome:
        """Record a QBO payment in the source and link it (origin ``qbo``), so the source's webhook for
        it is the push's "already in QBO" and nothing is written back. ``replacing``: the link of the
        source's earlier copy, voided, which the new link takes the place of."""
        qbo_id = str(row["Id"])
        customer_ref = str((row.get("CustomerRef") or {}).get("value", ""))
        customer = self.links.get_by_qbo_id(tenant_id, CUSTOMER, customer_ref)
        if customer is None:
            return PullOutcome("failed", f"QBO payment {qbo_id}: its customer {customer_ref} is not linked")
        choice = self._source_payment_method(tenant_id, settings, row)
        if choice.method is None:
            return PullOutcome("failed", f"QBO payment {qbo_id}: {choice.problem}")
        method = choice.method
        payment = NewSourcePayment(
            customer_id=customer.source_id,
            date=date.fromisoformat(str(row.get("TxnDate"))),
            amount=money(row.get("TotalAmt")),
            method=method,
            reference=_reference_of(row, qbo_id),
            applied_to=applied,
            **_foreign_currency_of(row),
        )
        # Keyed on QBO's id and SyncToken: a retry replays, an edit in QBO (new token) records anew.
        key = request_id_for(tenant_id, PAYMENT, qbo_id, sync_token(row) or "", "record-in-source")
        created = self.source_for(tenant_id).create_payment(payment, key)
        link = new_link(tenant_id, PAYMENT, created.id, created.version, row, "qbo", self.clock())
        if replacing is None:
            self.links.put(link)
        else:
            self.links.replace(replacing, link)
        invoices = ", ".join(amount.invoice_id for amount in applied)
        return PullOutcome("applied", f"recorded as source payment {created.id} against {invoices}")

    def _source_payment_method(
        self, tenant_id: str, settings: TenantSettings, row: Mapping[str, Any]
    ) -> MethodChoice:
        qbo_method = str((row.get("PaymentMethodRef") or {}).get("value", ""))
        rows = self.payment_methods_for(tenant_id)
        return source_payment_method(qbo_method, rows, settings.source_defaults)

    def _qbo_payment_changed(
        self,
        tenant_id: str,
        settings: TenantSettings,
        link: Link,
        change: EntityChange,
        row: Mapping[str, Any] | None,
    ) -> PullOutcome:
        """A payment entered in QBO belongs to QBO: its void or deletion voids the source's copy, an
        edit replaces it (the source's payments cannot be edited through the contract)."""
        if is_echo(link, row):
            return PullOutcome("unchanged", "the source already has this version of the QBO payment")
        voided = self.source_for(tenant_id).void_payment(link.source_id)
        if row is None or money(row.get("TotalAmt")) == 0:
            self.links.put(
                link.model_copy(
                    update={
                        "state": LinkState.VOIDED,
                        "source_version": max(voided.version, link.source_version),
                        "sync_token": sync_token(row) if row is not None else None,
                        "updated_at": self.clock(),
                    }
                )
            )
            return PullOutcome(
                "applied",
                f"QBO payment {change.entity_id} was removed: source payment {link.source_id} voided",
            )
        applied = self._applied_to_linked_invoices(tenant_id, row)
        outcome = self._record_qbo_payment(tenant_id, settings, row, applied=applied, replacing=link)
        if outcome.failed:
            return outcome
        return PullOutcome(
            "applied",
            f"QBO payment {change.entity_id} was edited: source payment {link.source_id} voided and"
            f" {outcome.reason}",
        )


@dataclass(frozen=True)
class MethodChoice:
    """The source payment method a QBO payment is recorded with, or why there is none to choose."""

    method: str | None
    problem: str = ""


def source_payment_method(
    qbo_method: str, rows: Sequence[MappingRow], defaults: SourceDefaults
) -> MethodChoice:
    """The source method for a QBO payment method, chosen explicitly, never by the rows' order:
    the per-method choice (``qbo_payment_method_choices``); else the one source method mapped to it;
    among several, ``qbo_payment_method_code`` when it is one of them, else no choice (the admin
    picks one); a method no row maps (or none on the payment) takes ``qbo_payment_method_code``."""
    chosen = defaults.qbo_payment_method_choices.get(qbo_method) if qbo_method else None
    if chosen:
        return MethodChoice(chosen)
    mapped = sorted({row.source_key for row in rows if qbo_method and row.qbo_id == qbo_method})
    if len(mapped) == 1:
        return MethodChoice(mapped[0])
    if mapped:
        if defaults.qbo_payment_method_code in mapped:
            return MethodChoice(defaults.qbo_payment_method_code)
        return MethodChoice(
            None,
            f"source payment methods {', '.join(mapped)} all map to QBO payment method {qbo_method}:"
            f" choose one in source_defaults.qbo_payment_method_choices[{qbo_method!r}]",
        )
    if defaults.qbo_payment_method_code:
        return MethodChoice(defaults.qbo_payment_method_code)
    return MethodChoice(
        None,
        f"no payment-method mapping names QBO payment method {qbo_method or '(none)'}"
        " and source_defaults.qbo_payment_method_code is not set",
    )


def _linked_invoice_amounts(row: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
    """(QBO invoice id, amount) for each payment line that applies to an invoice."""
    amounts = []
    for line in row.get("Line", []) or []:
        for linked in line.get("LinkedTxn", []) or []:
            if linked.get("TxnType") == "Invoice" and linked.get("TxnId"):
                amounts.append((str(linked["TxnId"]), money(line.get("Amount"))))
    return amounts


def _reference_of(row: Mapping[str, Any], qbo_id: str) -> str:
    """The payment's reference in the source: QBO's reference number, else its id (never empty)."""
    reference = str(row.get("PaymentRefNum") or "").strip()
    return reference or f"QBO payment {qbo_id}"


def _foreign_currency_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A QBO payment's currency and rate, when it is foreign (multi-currency books home ones at rate 1)."""
    rate = row.get("ExchangeRate")
    code = (row.get("CurrencyRef") or {}).get("value")
    if code is None or rate is None or Decimal(str(rate)) == 1:
        return {}
    return {"currency": str(code), "exchange_rate": Decimal(str(rate))}

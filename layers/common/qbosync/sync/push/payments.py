"""Source payments → QBO Payments against the invoices they apply to (parked until those reach QBO);
a payment entered in QBO and recorded in the source by the pull belongs to QBO. A payment whose source
names the GL account it was deposited to goes to the QBO account the gl-accounts mapping names for it
(unmapped: the event waits for the mapping); one that names none goes to QBO's Undeposited Funds."""

from __future__ import annotations

from qbosync.source.models import SourcePayment
from qbosync.store.links import Link
from qbosync.sync.configuration import MappingKind
from qbosync.sync.push.go_live import PreGoLiveAdoption, before_go_live, keep_qbo_number
from qbosync.sync.push.invoices import InvoicePush
from qbosync.sync.push.transform import MissingMapping, payment_body
from qbosync.sync.push.writer import Applied, DocumentContext, DocumentPush, Target, identity_of, to_heal
from qbosync.sync.records.links import PAYMENT


class PaymentPush(DocumentPush):
    """One tenant's payment writes."""

    def __init__(self, context: DocumentContext, invoices: InvoicePush) -> None:
        super().__init__(context)
        self._invoices = invoices

    def payment(self, source_id: str, *, heal: bool = False) -> Applied:
        payment = self._source.get_payment(source_id)
        link = self._links.get(self._tenant, PAYMENT, source_id)
        if link is None and before_go_live(self._config.settings, payment.date):
            link = PreGoLiveAdoption(self._context).adopt(
                Target(PAYMENT, PAYMENT, payment.id, payment.version),
                number_field="PaymentRefNum",
                number=payment.number,
                prefix=self._config.settings.prefixes.payment,
                customer_id=self._references.customer_id(payment.customer_id),
                amount=payment.amount,
                dated=payment.date,
            )
        if link is not None and link.origin == "qbo":
            # Entered in QBO and recorded in the source by the pull: QBO owns it, the pull follows it.
            return Applied(reason="entered in QBO; QBO owns this payment", qbo_id=link.qbo_id)
        removed = payment.status in ("void", "deleted")
        healing = to_heal(link, heal=heal and not removed)
        if healing is None and link is not None and link.source_version >= payment.version:
            return Applied(reason="this version is already in QBO", qbo_id=link.qbo_id)
        if removed:
            return self._remove_payment(payment, link)
        invoice_ids = self._invoices.linked_invoices(payment.applied_to)
        method_id = self._config.mapped(MappingKind.PAYMENT_METHODS, payment.method)
        if method_id is None:
            raise MissingMapping(
                MappingKind.PAYMENT_METHODS.value,
                payment.method,
                f"source payment method {payment.method!r} is not mapped to a QBO payment method",
            )
        deposit_to = self._deposit_account(payment)
        what = f"source payment {payment.number}"
        customer_id, currency = self._document_money(what, payment, payment.date)
        settings = self._config.settings
        body = payment_body(payment, customer_id, method_id, invoice_ids, settings, currency=currency)
        if deposit_to is not None:
            body["DepositToAccountRef"] = {"value": deposit_to}
        self._note_number(settings.prefixes.payment, payment.number, body["PaymentRefNum"])
        target = Target(PAYMENT, PAYMENT, source_id, payment.version)
        find = identity_of(target, "PaymentRefNum", body, customer_id, with_amount=True)
        body = keep_qbo_number(body, "PaymentRefNum", link)
        if healing is not None:
            written, healed = self._writer.heal(target, healing, body, find)
            return Applied(reason=healed, qbo_id=written.qbo_id)
        written = self._writer.upsert(target, link, body, find)
        return Applied(qbo_id=written.qbo_id)

    def _deposit_account(self, payment: SourcePayment) -> str | None:
        """The QBO account the payment is deposited to: the gl-accounts mapping of the source's deposit
        account; None (QBO's Undeposited Funds) when the source names none."""
        if payment.deposit_account is None:
            return None
        mapped = self._config.mapped(MappingKind.GL_ACCOUNTS, payment.deposit_account)
        if mapped is None:
            raise MissingMapping(
                MappingKind.GL_ACCOUNTS.value,
                payment.deposit_account,
                f"source GL account {payment.deposit_account!r} (the payment's deposit account) is not"
                " mapped to a QBO account",
            )
        return mapped

    def _remove_payment(self, payment: SourcePayment, link: Link | None) -> Applied:
        target = Target(PAYMENT, PAYMENT, payment.id, payment.version)
        link = self._writer.settle_before_removal(target, link)
        if link is None or not link.is_live:
            return self._writer.record_absent(payment.version, link)
        delete = payment.status == "deleted" and self._config.settings.deletion_policy == "delete"
        return self._writer.remove_transaction(target, link, delete=delete)

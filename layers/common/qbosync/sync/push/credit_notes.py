"""Source credit notes → QBO CreditMemos (credit or write-off prefix by kind). Applied to invoices, a
credit is applied as QBO does it: a zero payment linking the memo and the invoices (link entity
``CreditApplication``); an unapplied credit note stays unapplied. QBO cannot void a CreditMemo through
the API, so a removed credit note is deleted (its application payment first)."""

from __future__ import annotations

from qbosync.source.models import SourceCreditNote
from qbosync.store.links import Link
from qbosync.sync.push.go_live import PreGoLiveAdoption, before_go_live, keep_qbo_number
from qbosync.sync.push.invoices import InvoicePush
from qbosync.sync.push.transform import credit_application_body, credit_memo_body
from qbosync.sync.push.writer import Applied, DocumentContext, DocumentPush, Target, identity_of, to_heal
from qbosync.sync.records.links import CREDIT_APPLICATION, CREDIT_MEMO, PAYMENT


class CreditNotePush(DocumentPush):
    """One tenant's credit note writes."""

    def __init__(self, context: DocumentContext, invoices: InvoicePush) -> None:
        super().__init__(context)
        self._invoices = invoices

    def credit_note(self, source_id: str, *, heal: bool = False) -> Applied:
        note = self._source.get_credit_note(source_id)
        link = self._links.get(self._tenant, CREDIT_MEMO, source_id)
        if link is None and before_go_live(self._config.settings, note.date):
            prefixes = self._config.settings.prefixes
            link = PreGoLiveAdoption(self._context).adopt(
                Target(CREDIT_MEMO, CREDIT_MEMO, note.id, note.version),
                number_field="DocNumber",
                number=note.number,
                prefix=prefixes.write_off if note.kind == "write_off" else prefixes.credit_note,
                customer_id=self._references.customer_id(note.customer_id),
                amount=note.total,
                dated=note.date,
            )
        application = self._links.get(self._tenant, CREDIT_APPLICATION, source_id)
        removed = note.status in ("void", "deleted")
        heal_memo = to_heal(link, heal=heal and not removed)
        heal_application = to_heal(application, heal=heal and not removed and bool(note.applied_to))
        healing = heal_memo is not None or heal_application is not None
        memo_current = link is not None and link.source_version >= note.version
        application_current = (
            application.source_version >= note.version if application is not None else not note.applied_to
        )
        if not healing and memo_current and application_current:
            return Applied(reason="this version is already in QBO", qbo_id=link.qbo_id if link else None)
        if removed:
            return self._remove_credit_note(note, link, application)
        invoice_ids = self._invoices.linked_invoices(note.applied_to)
        what = f"source credit note {note.number}"
        customer_id, currency = self._document_money(what, note, note.date)
        lines = [self._references.line(line) for line in note.lines]
        settings = self._config.settings
        body = credit_memo_body(
            note,
            customer_id,
            lines,
            settings,
            currency=currency,
            automated_tax=self._currency.company.automated_sales_tax,
        )
        prefix = settings.prefixes.write_off if note.kind == "write_off" else settings.prefixes.credit_note
        self._note_number(prefix, note.number, body["DocNumber"])
        healed: list[str] = []
        memo_target = Target(CREDIT_MEMO, CREDIT_MEMO, source_id, note.version)
        find_memo = identity_of(memo_target, "DocNumber", body, customer_id)
        body = keep_qbo_number(body, "DocNumber", link)
        if heal_memo is not None:
            memo, memo_healed = self._writer.heal(memo_target, heal_memo, body, find_memo)
            healed.append(f"credit memo {memo_healed}")
        else:
            memo = self._writer.upsert(memo_target, link, body, find_memo)
        if note.applied_to:
            applying = {**credit_application_body(note, customer_id, memo.qbo_id, invoice_ids), **currency}
            applying["PaymentRefNum"] = find_memo.value
            application_target = Target(PAYMENT, CREDIT_APPLICATION, source_id, note.version)
            find_application = identity_of(
                application_target, "PaymentRefNum", applying, customer_id, with_amount=True
            )
            if heal_application is not None:
                _written, application_healed = self._writer.heal(
                    application_target, heal_application, applying, find_application
                )
                healed.append(f"credit application {application_healed}")
            else:
                self._writer.upsert(application_target, application, applying, find_application)
        elif application is not None and application.is_live:
            target = Target(PAYMENT, CREDIT_APPLICATION, source_id, note.version)
            self._writer.remove_transaction(target, application, delete=True)
        return Applied(
            reason="; ".join(healed) or None,
            qbo_id=memo.qbo_id,
            variance=self._variance(memo.qbo_id, note.total, note.currency),
        )

    def _remove_credit_note(
        self, note: SourceCreditNote, link: Link | None, application: Link | None
    ) -> Applied:
        application_target = Target(PAYMENT, CREDIT_APPLICATION, note.id, note.version)
        application = self._writer.settle_before_removal(application_target, application)
        if application is not None and application.is_live:
            self._writer.remove_transaction(application_target, application, delete=True)
        memo_target = Target(CREDIT_MEMO, CREDIT_MEMO, note.id, note.version)
        link = self._writer.settle_before_removal(memo_target, link)
        if link is None or not link.is_live:
            return self._writer.record_absent(note.version, link)
        return self._writer.remove_transaction(memo_target, link, delete=True)

"""What a done event says when the push wrote to QBO and had nothing special to report.

Outcomes that need explaining (already in QBO, voided, healed, turned off) carry their own reason; a
plain write used to leave ``reason`` empty, so the events page could not say what happened. Kept apart
from the push service so outcome wording (such as "synced with warnings") grows here.
"""

from __future__ import annotations

from qbosync.sync.records.messages import PushMessage

QBO_ENTITY_OF_KIND = {
    "invoice": "Invoice",
    "payment": "Payment",
    "credit_note": "CreditMemo",
    "customer": "Customer",
    "product": "Item",
}
_VERB = {"created": "created", "updated": "updated", "deleted": "removed", "voided": "voided"}


def written_summary(message: PushMessage, qbo_id: str | None) -> str:
    """E.g. "created QBO Invoice 148 from source invoice inv_000042 version 1"."""
    entity = QBO_ENTITY_OF_KIND.get(message.kind, message.kind)
    target = f"QBO {entity} {qbo_id}" if qbo_id else f"the QBO {entity}"
    source = f"source {message.kind.replace('_', ' ')} {message.source_id} version {message.source_version}"
    if message.action == "created":
        return f"created {target} from {source}"
    return f"{_VERB[message.action]} {target} to match {source}"

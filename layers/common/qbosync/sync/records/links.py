"""Link entities (the QBO entity a link is recorded under) and the link of a record QBO returned."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from qbosync.qbo.metadata import last_updated_time
from qbosync.store.links import Link, LinkOrigin

CUSTOMER = "Customer"
ITEM = "Item"
INVOICE = "Invoice"
PAYMENT = "Payment"
CREDIT_MEMO = "CreditMemo"
CREDIT_APPLICATION = "CreditApplication"
"""Link entity of the zero payment that applies a credit memo to invoices (a QBO Payment)."""


def new_link(  # noqa: PLR0917 - the link's fields, in the order a Link lists them
    tenant_id: str,
    entity: str,
    source_id: str,
    source_version: int,
    qbo_record: Mapping[str, Any],
    origin: LinkOrigin,
    at: datetime,
) -> Link:
    """The link of ``qbo_record`` as QBO returned it. Origin ``qbosync`` means qbosync created the record
    (in this call or an earlier attempt of the run), so its ``MetaData.LastUpdatedTime`` is qbosync's own
    write time (``qbo_written_at``); a matched record, or one that started in QBO, has none. A customer's
    link keeps its currency, which QBO never changes."""
    return Link(
        tenant_id=tenant_id,
        entity=entity,
        source_id=source_id,
        qbo_id=str(qbo_record["Id"]),
        sync_token=str(qbo_record.get("SyncToken")) if qbo_record.get("SyncToken") is not None else None,
        source_version=source_version,
        updated_at=at,
        origin=origin,
        qbo_written_at=last_updated_time(qbo_record) if origin == "qbosync" else None,
        currency=_customer_currency(qbo_record) if entity == CUSTOMER else None,
    )


def _customer_currency(qbo_record: Mapping[str, Any]) -> str | None:
    """QBO sends ``CurrencyRef`` on every customer (the home currency unless it was created in another)."""
    value = (qbo_record.get("CurrencyRef") or {}).get("value")
    return str(value) if value else None

"""QBO's two webhook payloads (legacy ``eventNotifications`` and CloudEvents) as one list of changes.

Both formats are parsed into ``EntityChange``: which realm, which entity, what happened, and the key
that identifies this notification across Intuit's resends (the CloudEvents ``id``; in the legacy
format realm, entity, id, operation and ``lastUpdated``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qbosync.errors import BadRequest, validation_details
from qbosync.sync.records.messages import EntityChange, Operation

# QBO entity names by their lower-case form, as CloudEvents types spell them (``qbo.creditmemo.created.v1``).
_ENTITY_NAMES = {
    name.lower(): name
    for name in (
        "Customer",
        "Item",
        "Invoice",
        "Payment",
        "CreditMemo",
        "SalesReceipt",
        "RefundReceipt",
        "Estimate",
        "Vendor",
        "Employee",
        "Account",
        "Class",
        "Department",
        "Term",
        "PaymentMethod",
        "TaxCode",
        "Bill",
        "BillPayment",
        "Purchase",
        "JournalEntry",
        "Deposit",
        "Transfer",
        "VendorCredit",
        "PurchaseOrder",
        "TimeActivity",
        "Budget",
        "Currency",
    )
}
_VERBS: dict[str, Operation] = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "void": "Void",
    "emailed": "Emailed",
}


class _LegacyEntity(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    id: str = Field(min_length=1)
    operation: Operation
    last_updated: datetime | None = Field(None, alias="lastUpdated")
    deleted_id: str | None = Field(None, alias="deletedId")


class _DataChangeEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entities: list[_LegacyEntity]


class _LegacyNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str = Field(alias="realmId", min_length=1)
    data_change_event: _DataChangeEvent = Field(alias="dataChangeEvent")


class _LegacyPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_notifications: list[_LegacyNotification] = Field(alias="eventNotifications")


class _CloudEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    specversion: str
    id: str = Field(min_length=1)
    type: str = Field(pattern=r"^qbo\.[A-Za-z]+\.[A-Za-z]+\.v\d+$")
    time: datetime | None = None
    intuitentityid: str = Field(min_length=1)
    intuitaccountid: str = Field(min_length=1)
    data: dict[str, Any] | None = None


def _entity_name(raw: str) -> str:
    return _ENTITY_NAMES.get(raw.lower(), raw[:1].upper() + raw[1:])


def _from_legacy(payload: _LegacyPayload) -> list[EntityChange]:
    changes = []
    for notification in payload.event_notifications:
        for entity in notification.data_change_event.entities:
            stamp = entity.last_updated.isoformat() if entity.last_updated else ""
            changes.append(
                EntityChange(
                    realm_id=notification.realm_id,
                    entity=_entity_name(entity.name),
                    entity_id=entity.id,
                    operation=entity.operation,
                    last_updated=entity.last_updated,
                    deleted_id=entity.deleted_id,
                    dedupe_key=f"legacy|{notification.realm_id}|{entity.name}|{entity.id}|{entity.operation}|{stamp}",
                )
            )
    return changes


def _from_cloud_events(events: list[_CloudEvent]) -> list[EntityChange]:
    changes = []
    for event in events:
        _, entity, verb, _ = event.type.split(".")
        operation = _VERBS.get(verb.lower())
        if operation is None:
            raise BadRequest(f"unknown CloudEvents verb {verb!r}", code="malformed_webhook")
        deleted_id = (event.data or {}).get("deletedId")
        changes.append(
            EntityChange(
                realm_id=event.intuitaccountid,
                entity=_entity_name(entity),
                entity_id=event.intuitentityid,
                operation=operation,
                last_updated=event.time,
                deleted_id=str(deleted_id) if deleted_id is not None else None,
                dedupe_key=f"ce|{event.intuitaccountid}|{event.id}",
            )
        )
    return changes


def parse_notifications(document: Any) -> list[EntityChange]:
    """The changes a webhook body announces; ``BadRequest`` when it is neither format."""
    try:
        if isinstance(document, list):
            return _from_cloud_events([_CloudEvent.model_validate(item) for item in document])
        if isinstance(document, dict) and "eventNotifications" in document:
            return _from_legacy(_LegacyPayload.model_validate(document))
    except ValidationError as exc:
        raise BadRequest(
            "the webhook body is not a QBO notification",
            code="malformed_webhook",
            details=validation_details(exc.errors(include_input=False, include_url=False)),
        ) from None
    raise BadRequest(
        "the webhook body is neither eventNotifications nor a CloudEvents array", code="malformed_webhook"
    )

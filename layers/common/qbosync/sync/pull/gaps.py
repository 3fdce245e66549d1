"""Gap signals the QBO webhook receiver raises, and how they reach the tenant's reconciliation signals.

The public webhook function may not write tenant items (its role reaches the realm index, its dedupe marks
and the pull queue only), so a gap travels as a ``GapNotice`` on the pull queue and the pull worker records
it (``store.reconcile_signals``). ``sync/backstop.py`` says what each reason means and how it is bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from qbosync.store.reconcile_signals import GapReason
from qbosync.sync.records.messages import EntityChange

MAX_CLAIMED_REALMS = 10
"""Realms of a refused webhook looked up at most: a forged body costs bounded reads of the realm index."""
_REALM_ID_LENGTH = 32


class GapNotice(BaseModel):
    """A suspected missed QBO change for one tenant, on its way to the pull worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["gap"] = "gap"
    tenant_id: str = Field(min_length=1)
    reason: GapReason
    detected_at: datetime


class GapSignals(Protocol):
    def signal(self, tenant_ids: Sequence[str], reason: GapReason, at: datetime) -> None: ...


class BatchQueue(Protocol):
    def send_all(self, bodies: Sequence[str]) -> None: ...


class QueuedGapSignals:
    """Sends one ``GapNotice`` per tenant to the pull queue."""

    def __init__(self, queue: BatchQueue) -> None:
        self._queue = queue

    def signal(self, tenant_ids: Sequence[str], reason: GapReason, at: datetime) -> None:
        bodies = [
            GapNotice(tenant_id=tenant_id, reason=reason, detected_at=at).model_dump_json()
            for tenant_id in dict.fromkeys(tenant_ids)
        ]
        if bodies:
            self._queue.send_all(bodies)


def gap_notice_of(body: str) -> GapNotice | None:
    """The notice a pull-queue body carries, or None when it is a change (``PullMessage``)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("kind") == "gap":
        return GapNotice.model_validate(document)
    return None


def _realm_ids(document: Any) -> Iterable[Any]:
    if isinstance(document, list):  # CloudEvents
        return (event.get("intuitaccountid") for event in document if isinstance(event, dict))
    if isinstance(document, dict) and isinstance(document.get("eventNotifications"), list):
        notifications = document["eventNotifications"]
        return (item.get("realmId") for item in notifications if isinstance(item, dict))
    return ()


def claimed_realms(body: bytes) -> list[str]:
    """The realm ids an unverified body names, and nothing else of it: digits only (QBO realm ids are
    numbers), distinct, at most ``MAX_CLAIMED_REALMS``; an unreadable body names none."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    realms: dict[str, None] = {}
    for value in _realm_ids(document):
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _REALM_ID_LENGTH:
            realms[value] = None
            if len(realms) == MAX_CLAIMED_REALMS:
                break
    return list(realms)


def is_late(change: EntityChange, received_at: datetime, late_after: timedelta) -> bool:
    """Whether Intuit delivered ``change`` more than ``late_after`` after QBO made it (a time without a
    zone cannot be compared, so it never counts as late)."""
    stamp = change.last_updated
    return stamp is not None and stamp.tzinfo is not None and received_at - stamp > late_after

"""The go-live floor: a document dated before the tenant's go-live date already exists in QBO (the
vendor's books predate qbosync), so it is never created there. When it changes or is paid in the
source, the push finds the QBO document it is (``records.documents``) and links it; the change is then
written to that document as any update is. No single match: the change is refused with a reason code.

Every document push needs the go-live date: without it the event is parked (``go_live_not_set``) on
``GO_LIVE_PARKED_KEY`` and released when the settings are saved with one, so an upgraded tenant loses
nothing while its admin sets it. Products need no date.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from qbosync.store.events import ReasonCode, parked_key
from qbosync.store.links import Link
from qbosync.sync.configuration import NumberPrefix, TenantSettings
from qbosync.sync.push.refusals import Refused
from qbosync.sync.push.writer import DocumentContext, Parked, Target
from qbosync.sync.records.documents import DocumentMatchOutcome, DocumentQuery, find_existing_document

GO_LIVE_SETTING = "onboarding.go_live_date"
GO_LIVE_PARKED_KEY = parked_key("setting", GO_LIVE_SETTING)
"""What a document push waits on while the tenant has no go-live date."""


def go_live_date(settings: TenantSettings) -> date:
    """The tenant's go-live date, or ``Parked`` on the setting that must be set first."""
    found = settings.onboarding.go_live_date
    if found is None:
        raise Parked(
            GO_LIVE_PARKED_KEY,
            f"waiting for {GO_LIVE_SETTING} in the tenant settings: documents dated before it are "
            "matched to QBO, never created; this change is pushed when it is set",
            ReasonCode.GO_LIVE_NOT_SET,
        )
    return found


def before_go_live(settings: TenantSettings, dated: date) -> bool:
    return dated < go_live_date(settings)


def keep_qbo_number(body: dict[str, Any], number_field: str, link: Link | None) -> dict[str, Any]:
    """A document that existed before go-live keeps the number QBO has (bare or prefixed)."""
    if link is not None and link.origin == "matched":
        return {key: value for key, value in body.items() if key != number_field}
    return body


class PreGoLiveAdoption:
    """Links a pre-go-live source document to its QBO document, through the push's writer."""

    def __init__(self, context: DocumentContext) -> None:
        self._tenant = context.tenant_id
        self._qbo = context.qbo
        self._links = context.links
        self._writer = context.writer

    def adopt(
        self,
        target: Target,
        *,
        number_field: str,
        number: str,
        prefix: NumberPrefix,
        customer_id: str,
        amount: Decimal,
        dated: date,
    ) -> Link:
        query = DocumentQuery(
            qbo_entity=target.qbo_entity,
            number_field=number_field,
            number=number,
            prefix=prefix,
            customer_id=customer_id,
            amount=amount,
            txn_date=dated,
        )
        match = find_existing_document(
            self._qbo,
            query,
            lambda qbo_id: self._links.get_by_qbo_id(self._tenant, target.link_entity, qbo_id),
        )
        if match.outcome is DocumentMatchOutcome.MATCHED and match.record is not None:
            return self._writer.adopt(target, match.record)
        code = (
            ReasonCode.PRE_GO_LIVE_AMBIGUOUS
            if match.outcome is DocumentMatchOutcome.AMBIGUOUS
            else ReasonCode.PRE_GO_LIVE_NO_MATCH
        )
        raise Refused(code, f"dated before go-live, so never created in QBO: {match.message}")

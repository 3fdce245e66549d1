"""A source customer's change → QBO: created (matched by name first) when unlinked, else a sparse update of
the groups of fields the source owns (``field_ownership``; deactivating included).

The push worker leaves customers to the scheduled reconciliation, which calls this for every source
customer newer than its link. The new SyncToken is recorded, so the QBO webhook that follows is
recognised as qbosync's own write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbosync.clock import utc_now
from qbosync.qbo.client import QboClient, request_id_for
from qbosync.qbo.metadata import last_updated_time
from qbosync.source.models import SourceCustomer
from qbosync.source.port import SourcePort
from qbosync.store.ledger import WriteLedger
from qbosync.store.links import Link, LinkRepository
from qbosync.sync.configuration import TenantSettings
from qbosync.sync.push.references import PushConfiguration, QboReferences
from qbosync.sync.records.customers import qbo_update_from_source
from qbosync.sync.records.links import CUSTOMER


@dataclass
class CustomerPush:
    """Writes source customers to QBO; ``qbosync.sync.wiring`` builds the deployed one."""

    qbo_for: Callable[[str], QboClient]
    source_for: Callable[[str], SourcePort]
    links: LinkRepository
    clock: Callable[[], datetime] = utc_now
    ledger: WriteLedger = field(default_factory=WriteLedger)
    """Where a customer create records its intent (``QboReferences``)."""

    def to_qbo(
        self, tenant_id: str, settings: TenantSettings, customer: SourceCustomer, link: Link | None
    ) -> None:
        """Bring QBO to this version of the source customer (nothing for one the source stopped using)."""
        qbo = self.qbo_for(tenant_id)
        if link is None:
            if customer.deleted or not customer.active:
                return  # never create a customer the source no longer uses
            references = QboReferences(
                tenant_id,
                qbo,
                self.source_for(tenant_id),
                links=self.links,
                config=PushConfiguration(settings),
                clock=self.clock,
                ledger=self.ledger,
            )
            references.customer_id(customer.id)
            return
        ownership = settings.field_ownership.customers
        groups = ownership.groups_owned_by("source", started_in_qbo=link.origin == "qbo")
        fields = qbo_update_from_source(customer, groups)
        if not fields:
            # QBO owns every field of this customer: the source's edit is not copied (see sync.pull).
            self._relink(link, customer.version)
            return
        current = qbo.read(CUSTOMER, link.qbo_id)
        if all(current.get(key) == value for key, value in fields.items()):
            # Nothing to write. The link keeps its SyncToken: a QBO edit newer than it is still to be pulled.
            self._relink(link, customer.version)
            return
        body = {**fields, "Id": link.qbo_id, "SyncToken": current.get("SyncToken")}
        request_id = request_id_for(tenant_id, CUSTOMER, customer.id, str(customer.version), "update")
        updated = qbo.sparse_update(CUSTOMER, body, request_id)
        # Adopt QBO's answer as "what qbosync last wrote" only when QBO held nothing the pull had not
        # seen: an accountant's edit still on its way (of fields QBO owns) must not pass for an echo.
        unseen_qbo_edit = str(current.get("SyncToken")) != link.sync_token
        self._relink(link, customer.version, written=None if unseen_qbo_edit else updated)

    def _relink(self, link: Link, source_version: int, written: Mapping[str, Any] | None = None) -> None:
        """Record the source version handled and, when qbosync wrote to QBO, what QBO answered."""
        update: dict[str, Any] = {"source_version": source_version, "updated_at": self.clock()}
        if written is not None:
            update["sync_token"] = str(written.get("SyncToken"))
            update["qbo_written_at"] = last_updated_time(written)
        self.links.put(link.model_copy(update=update))

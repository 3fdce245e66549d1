"""QBO reference data (accounts, items, tax codes, classes, payment methods, terms) as admins pick from it.

Read through a narrow ``ReferenceReader`` (QBO's query), cached briefly per tenant so a configuration
screen does not cost a QBO query per click, and marked with what is already mapped: the seeds show
mapped entries crossed out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from qbosync.errors import NotConnected, UpstreamUnavailable
from qbosync.qbo.faults import QboAuthenticationFault, QboAuthorizationFault, QboFault

REFERENCE_CACHE_SECONDS = 300
# QBO name-list queries return active entries only unless asked; inactive ones are needed to explain
# why a mapping target is refused ("inactive" rather than "not found").
ACTIVE_AND_INACTIVE = "Active IN (true, false)"


class ReferenceKind(StrEnum):
    """The QBO lists offered as mapping targets, by the path segment the API uses."""

    ACCOUNTS = "accounts"
    ITEMS = "items"
    TAX_CODES = "tax-codes"
    CLASSES = "classes"
    PAYMENT_METHODS = "payment-methods"
    TERMS = "terms"


QBO_ENTITY = {
    ReferenceKind.ACCOUNTS: "Account",
    ReferenceKind.ITEMS: "Item",
    ReferenceKind.TAX_CODES: "TaxCode",
    ReferenceKind.CLASSES: "Class",
    ReferenceKind.PAYMENT_METHODS: "PaymentMethod",
    ReferenceKind.TERMS: "Term",
}


class ReferenceReader(Protocol):
    """What reference data needs from a QBO client (``qbosync.qbo.QboClient`` satisfies it)."""

    def query_all(self, entity: str, where: str = "") -> list[dict[str, Any]]: ...

    def company_info(self) -> dict[str, Any]: ...

    def preferences(self) -> dict[str, Any]: ...


class ReferenceCache(Protocol):
    """Short-lived storage of reference lists (``qbosync.store.config.ReferenceCacheRepository``)."""

    def get(self, tenant_id: str, kind: str, now: float) -> list[dict[str, Any]] | None: ...

    def put(self, tenant_id: str, kind: str, entries: list[dict[str, Any]], expires_at: float) -> None: ...


class QboReference(BaseModel):
    """One QBO list entry, reduced to what choosing and validating a target needs."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    type: str | None = None
    subtype: str | None = None
    classification: str | None = None
    active: bool = True


class ReferenceEntryView(QboReference):
    """An entry as the admin API lists it, marked when a mapping already points at it."""

    mapped: bool = False
    mapped_from: list[str] = Field(default_factory=list)


def to_reference(kind: ReferenceKind, raw: Mapping[str, Any]) -> QboReference:
    """A QBO wire object (PascalCase) as a ``QboReference``."""
    name = raw.get("FullyQualifiedName") or raw.get("Name") or str(raw.get("Id", ""))
    common: dict[str, Any] = {
        "id": str(raw["Id"]),
        "name": str(name),
        "active": bool(raw.get("Active", True)),
    }
    if kind is ReferenceKind.ACCOUNTS:
        common |= {
            "type": raw.get("AccountType"),
            "subtype": raw.get("AccountSubType"),
            "classification": raw.get("Classification"),
        }
    elif kind in (ReferenceKind.ITEMS, ReferenceKind.PAYMENT_METHODS, ReferenceKind.TERMS):
        common["type"] = raw.get("Type")
    return QboReference(**common)


class ReferenceCatalog:
    """One tenant's QBO reference lists: cached reads for browsing, fresh reads for validation."""

    def __init__(
        self,
        tenant_id: str,
        reader: ReferenceReader,
        cache: ReferenceCache,
        clock: Callable[[], float],
        ttl_seconds: float = REFERENCE_CACHE_SECONDS,
    ) -> None:
        self._tenant_id = tenant_id
        self._reader = reader
        self._cache = cache
        self._clock = clock
        self._ttl_seconds = ttl_seconds
        self._fresh: dict[ReferenceKind, list[QboReference]] = {}

    def entries(self, kind: ReferenceKind, *, refresh: bool = False) -> list[QboReference]:
        """The list for ``kind``; ``refresh`` reads QBO even if a cached copy is still young."""
        if kind in self._fresh:
            return self._fresh[kind]
        if not refresh:
            cached = self._cache.get(self._tenant_id, kind.value, self._clock())
            if cached is not None:
                return [QboReference.model_validate(entry) for entry in cached]
        return self._read_and_cache(kind)

    def live(self, kind: ReferenceKind) -> list[QboReference]:
        """The list as QBO has it now (read at most once per catalog), for validating targets."""
        return self.entries(kind, refresh=True)

    def _read_and_cache(self, kind: ReferenceKind) -> list[QboReference]:
        try:
            raw = self._reader.query_all(QBO_ENTITY[kind], where=ACTIVE_AND_INACTIVE)
        except (QboAuthenticationFault, QboAuthorizationFault) as fault:
            raise NotConnected(
                "QuickBooks Online refused this connection; reconnect it signed in as a company administrator"
            ) from fault
        except QboFault as fault:
            raise UpstreamUnavailable(
                f"QuickBooks Online could not list {kind.value} just now; try again shortly"
            ) from fault
        entries = sorted((to_reference(kind, item) for item in raw), key=lambda e: (e.name.casefold(), e.id))
        self._fresh[kind] = entries
        self._cache.put(
            self._tenant_id,
            kind.value,
            [entry.model_dump() for entry in entries],
            self._clock() + self._ttl_seconds,
        )
        return entries


def mark_mapped(
    entries: Iterable[QboReference], mapped_sources_by_qbo_id: Mapping[str, list[str]]
) -> list[ReferenceEntryView]:
    """Entries marked with the source keys already mapped to each (the seeds' crossed-out entries)."""
    views = []
    for entry in entries:
        sources = sorted(mapped_sources_by_qbo_id.get(entry.id, []))
        views.append(ReferenceEntryView(**entry.model_dump(), mapped=bool(sources), mapped_from=sources))
    return views


class ConnectionView(Protocol):
    """What the admin API needs to know of a tenant's QBO connection (``store.connections.Connection``)."""

    @property
    def status(self) -> str: ...

    @property
    def realm_id(self) -> str: ...

    @property
    def company_name(self) -> str | None: ...


class ConnectionReader(Protocol):
    """Looks up a tenant's QBO connection; None when the tenant never connected."""

    def get(self, tenant_id: str) -> ConnectionView | None: ...


CONNECTED = "connected"

_UNUSABLE_CONNECTION = {
    "needs_reauth": "QuickBooks Online refused the stored sign-in (it expired or was revoked)",
    "disconnected": "QuickBooks Online was disconnected",
}


def unusable_connection_sentence(status: str) -> str:
    """Why a connection in ``status`` cannot be used, in words (the status code goes in ``details``)."""
    return _UNUSABLE_CONNECTION.get(status, f"the QuickBooks Online connection cannot be used ({status})")


def require_connected(connection: ConnectionView | None) -> ConnectionView:
    """The connection if it can be used now, else ``NotConnected`` saying what to do."""
    if connection is None:
        raise NotConnected("the tenant has not connected QuickBooks Online yet; connect it first")
    if connection.status != CONNECTED:
        raise NotConnected(
            f"{unusable_connection_sentence(connection.status)}; reconnect it as a company administrator",
            details=[{"status": connection.status}],
        )
    return connection

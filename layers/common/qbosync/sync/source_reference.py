"""The source's reference data (payment methods, GL codes, product types, accounts, tax codes, bill
profiles, products) as admins pick from it, and the checks that keep source keys honest.

The QBO side lives in ``qbosync.sync.reference``; this is its mirror for the other column of every
mapping table. Lists are read through the source port, cached briefly per tenant in the same
reference cache the QBO side uses (under ``source-<kind>``), and marked with what already maps from
them. Validation reads the lists fresh, so a code deleted in the source a minute ago is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from qbosync.source.errors import SourceNotFound
from qbosync.source.models import Page, ReferenceEntry, SourceAccount, SourceProduct, SourceTaxCode
from qbosync.sync.reference import REFERENCE_CACHE_SECONDS, ReferenceCache

# Products are the one long list: a dropdown offers the first ones; a product id is checked by reading
# that product (``SourceReferenceReader.get_product``).
PRODUCT_PAGES_LISTED = 5
PRODUCT_PAGE_SIZE = 200
INCOME_ACCOUNT_TYPES = frozenset({"income", "expense"})
# DynamoDB items hold 400 KB; this leaves room for the key and attribute names.
CACHEABLE_LIST_BYTES = 350_000


class SourceReferenceKind(StrEnum):
    """The source lists an admin picks from, by the path segment the API uses. The first six are the
    source column of the mapping kind of the same name; bill profiles and products feed the source
    defaults."""

    PAYMENT_METHODS = "payment-methods"
    GL_CODES = "gl-codes"
    PRODUCT_TYPES = "product-types"
    INCOME_ACCOUNTS = "income-accounts"
    GL_ACCOUNTS = "gl-accounts"
    TAX_CODES = "tax-codes"
    BILL_PROFILES = "bill-profiles"
    PRODUCTS = "products"


class SourceReferenceReader(Protocol):
    """The source's reference lists (``qbosync.source.SourcePort``); a source without a list returns []."""

    def list_payment_methods(self) -> Sequence[ReferenceEntry]: ...

    def list_gl_codes(self) -> Sequence[ReferenceEntry]: ...

    def list_product_types(self) -> Sequence[ReferenceEntry]: ...

    def list_accounts(self) -> Sequence[SourceAccount]: ...

    def list_tax_codes(self) -> Sequence[SourceTaxCode]: ...

    def list_bill_profiles(self) -> Sequence[ReferenceEntry]: ...

    def list_products(self, cursor: str | None = None, limit: int = ...) -> Page[SourceProduct]: ...

    def get_product(self, product_id: str) -> SourceProduct: ...


class SourceReference(BaseModel):
    """One source list entry, reduced to what choosing and validating a source key needs.

    ``type`` is the account type of accounts and the product type of products; ``rate`` is a tax
    code's percentage.
    """

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    active: bool = True
    type: str | None = None
    rate: str | None = None


class SourceReferenceView(SourceReference):
    """An entry as the admin API lists it: ``mapped_to`` holds the QBO ids its mapping rows point at,
    ``default_for`` the settings fields that name it."""

    mapped: bool = False
    mapped_to: list[str] = Field(default_factory=list)
    default_for: list[str] = Field(default_factory=list)


class SourceReferenceList(BaseModel):
    """A source list as the admin API returns it; ``complete`` is false when only the first products
    were listed."""

    kind: SourceReferenceKind
    complete: bool
    entries: list[SourceReferenceView]


def _entry(raw: ReferenceEntry) -> SourceReference:
    return SourceReference(code=raw.code, name=raw.name, active=raw.active)


def _read(kind: SourceReferenceKind, reader: SourceReferenceReader) -> tuple[list[SourceReference], bool]:
    """The entries of one list, and whether the whole list was read."""
    if kind is SourceReferenceKind.PRODUCTS:
        return _read_products(reader)
    if kind in (SourceReferenceKind.INCOME_ACCOUNTS, SourceReferenceKind.GL_ACCOUNTS):
        wanted = kind is SourceReferenceKind.INCOME_ACCOUNTS
        accounts = [
            SourceReference(code=a.code, name=a.name, active=a.active, type=a.account_type)
            for a in reader.list_accounts()
            if (a.account_type in INCOME_ACCOUNT_TYPES) is wanted
        ]
        return accounts, True
    if kind is SourceReferenceKind.TAX_CODES:
        return [
            SourceReference(code=t.code, name=t.name, active=t.active, rate=str(t.rate))
            for t in reader.list_tax_codes()
        ], True
    simple: dict[SourceReferenceKind, Callable[[], Sequence[ReferenceEntry]]] = {
        SourceReferenceKind.PAYMENT_METHODS: reader.list_payment_methods,
        SourceReferenceKind.GL_CODES: reader.list_gl_codes,
        SourceReferenceKind.PRODUCT_TYPES: reader.list_product_types,
        SourceReferenceKind.BILL_PROFILES: reader.list_bill_profiles,
    }
    return [_entry(raw) for raw in simple[kind]()], True


def _read_products(reader: SourceReferenceReader) -> tuple[list[SourceReference], bool]:
    products: list[SourceReference] = []
    cursor: str | None = None
    for _page in range(PRODUCT_PAGES_LISTED):
        page = reader.list_products(cursor=cursor, limit=PRODUCT_PAGE_SIZE)
        products += [
            SourceReference(code=p.id, name=p.name, active=p.active, type=p.product_type)
            for p in page.items
            if not p.deleted
        ]
        cursor = page.next_cursor
        if cursor is None:
            return products, True
    return products, False


def _cache_kind(kind: SourceReferenceKind) -> str:
    return f"source-{kind.value}"


class SourceCatalog:
    """One tenant's source reference lists: cached reads for browsing, fresh reads for validation."""

    def __init__(
        self,
        tenant_id: str,
        reader: SourceReferenceReader,
        cache: ReferenceCache,
        clock: Callable[[], float],
        ttl_seconds: float = REFERENCE_CACHE_SECONDS,
    ) -> None:
        self._tenant_id = tenant_id
        self._reader = reader
        self._cache = cache
        self._clock = clock
        self._ttl_seconds = ttl_seconds
        self._fresh: dict[SourceReferenceKind, tuple[list[SourceReference], bool]] = {}

    def entries(
        self, kind: SourceReferenceKind, *, refresh: bool = False
    ) -> tuple[list[SourceReference], bool]:
        """The list for ``kind`` and whether it is complete; ``refresh`` reads the source even if a
        cached copy is still young."""
        if kind in self._fresh:
            return self._fresh[kind]
        if not refresh:
            cached = self._cache.get(self._tenant_id, _cache_kind(kind), self._clock())
            if cached is not None:
                return [SourceReference.model_validate(e) for e in cached[0]["entries"]], cached[0][
                    "complete"
                ]
        return self._read_and_cache(kind)

    def live(self, kind: SourceReferenceKind) -> list[SourceReference]:
        """The list as the source has it now (read at most once per catalog), for validating keys."""
        return self.entries(kind, refresh=True)[0]

    def has_product(self, product_id: str) -> bool:
        """Whether the source has this (undeleted) product: one read of it, not a walk of the list."""
        try:
            return not self._reader.get_product(product_id).deleted
        except SourceNotFound:
            return False

    def _read_and_cache(self, kind: SourceReferenceKind) -> tuple[list[SourceReference], bool]:
        entries, complete = _read(kind, self._reader)
        entries.sort(key=lambda e: (e.name.casefold(), e.code))
        self._fresh[kind] = (entries, complete)
        # One cache item a list: the entries and whether they are all of them. A list too big for one
        # DynamoDB item is simply not cached: browsing it costs a source read, nothing fails.
        document = {"complete": complete, "entries": [e.model_dump() for e in entries]}
        if len(json.dumps(document)) <= CACHEABLE_LIST_BYTES:
            self._cache.put(self._tenant_id, _cache_kind(kind), [document], self._clock() + self._ttl_seconds)
        return entries, complete


def mark_source_entries(
    entries: Iterable[SourceReference],
    mapped_to_by_code: Mapping[str, list[str]],
    default_fields_by_code: Mapping[str, list[str]],
) -> list[SourceReferenceView]:
    """Entries marked with the QBO ids their mapping rows point at and the defaults that name them."""
    views = []
    for entry in entries:
        targets = sorted(mapped_to_by_code.get(entry.code, []))
        fields = sorted(default_fields_by_code.get(entry.code, []))
        views.append(
            SourceReferenceView(
                **entry.model_dump(), mapped=bool(targets or fields), mapped_to=targets, default_for=fields
            )
        )
    return views


def unknown_source_value_problem(field: str, value: str, kind: SourceReferenceKind) -> dict[str, Any]:
    """The ``details`` entry of a source key or source default the source does not have."""
    return {
        "field": field,
        "value": value,
        "reason": "unknown_source_value",
        "message": f"the source has no {kind.value} entry {value!r}",
    }

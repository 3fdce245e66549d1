"""Making sure what a document points at exists in QBO: its customer and the items of its lines.

One record at a time, the push way: the link first; then a create with a deterministic requestid, with
no read before it (every QBO read is metered). QBO names are unique, so when QBO answers the create with
its duplicate-name fault (6240), the name is looked up once: an active customer or item of that name
(made by hand or by the bulk sync) is adopted as ``matched``, never duplicated; none (a vendor, employee
or inactive record holds it) goes to the name-collision policy. Bodies and names come from
``qbosync.sync.records``, as the bulk sync's do, so the two flows create identical records.

Creates go through the write ledger (``store.ledger``) as documents do: the intent is recorded before
the call and settled in the transaction that records the link. An intent left open (a lost answer, a
killed worker) is resolved by a name lookup before the create: found, the record is linked as
qbosync's own; proved absent, it is created under the next requestid generation.

A customer's link keeps its QBO currency, so a document's currency check reads no customer.

Line items, in order: the product's linked item; the income-accounts mapping of its income account;
the item created from the product (when product sync is on and its type and GL code are mapped);
the unmatched one-time / recurring default of the settings; otherwise the event waits for a mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbosync.qbo.client import QboClient, qbo_literal, request_id_for
from qbosync.qbo.faults import QboDuplicateName, QboUncertainOutcome
from qbosync.source.models import SourceCustomer, SourceLine, SourceProduct
from qbosync.source.port import SourcePort
from qbosync.store.events import EventWarning, WarningCode
from qbosync.store.ledger import WriteIntent, WriteLedger
from qbosync.store.links import Link, LinkOrigin, LinkRepository, StaleSourceVersion
from qbosync.sync.configuration import MappingKind, MappingRow, TenantSettings
from qbosync.sync.push.transform import LINE_DESCRIPTION_MAX, MissingMapping, ResolvedLine
from qbosync.sync.records.customers import customer_body, truncated_customer_fields
from qbosync.sync.records.items import item_body, mapping_problem
from qbosync.sync.records.links import CUSTOMER, ITEM, new_link
from qbosync.sync.records.names import name_key, qbo_item_name, suffixed_name


@dataclass(frozen=True)
class PushConfiguration:
    """A tenant's settings and mappings, read once per change."""

    settings: TenantSettings
    mappings: Mapping[MappingKind, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: TenantSettings, rows: Mapping[MappingKind, list[MappingRow]]) -> PushConfiguration:
        return cls(
            settings, {kind: {row.source_key: row.qbo_id for row in found} for kind, found in rows.items()}
        )

    def mapped(self, kind: MappingKind, source_key: str | None) -> str | None:
        if not source_key:
            return None
        return self.mappings.get(kind, {}).get(source_key)


class QboReferences:
    """Finds (or creates) the QBO customer and items one source document needs."""

    def __init__(
        self,
        tenant_id: str,
        qbo: QboClient,
        source: SourcePort,
        *,
        links: LinkRepository,
        config: PushConfiguration,
        clock: Callable[[], datetime],
        ledger: WriteLedger,
    ) -> None:
        self._tenant_id = tenant_id
        self._qbo = qbo
        self._source = source
        self._links = links
        self._config = config
        self._clock = clock
        self._ledger = ledger
        self._products: dict[str, SourceProduct] = {}
        self.warnings: list[EventWarning] = []
        """Where resolving this change had to improvise; the done event carries them."""

    def warn(self, code: WarningCode, message: str) -> None:
        self.warnings.append(EventWarning.of(code, message))

    # Customers

    def customer_id(self, source_customer_id: str, created_with: Mapping[str, Any] | None = None) -> str:
        """The QBO id of a source customer's QBO customer (see ``customer``)."""
        return self.customer(source_customer_id, created_with).qbo_id

    def customer(self, source_customer_id: str, created_with: Mapping[str, Any] | None = None) -> QboCustomer:
        """The QBO customer of a source customer: linked, else created (with the fields of ``created_with``
        too: a customer created for a document takes the document's ``CurrencyRef``), else, when QBO
        has the name already, the active customer of that name adopted."""
        link = self._links.get(self._tenant_id, CUSTOMER, source_customer_id)
        if link is not None:
            return QboCustomer(link.qbo_id, link.currency)
        customer = self._source.get_customer(source_customer_id)
        creating = _Creation(CUSTOMER, customer.id, customer.version, "DisplayName")
        open_intent = self._ledger.open(self._tenant_id, CUSTOMER, customer.id)
        if open_intent is not None:
            found = self._find("Customer", "DisplayName", customer.display_name)
            if found is not None:
                return _customer_of(self._link(creating, found, _origin_of_found(open_intent)))
        generation = _next_generation(open_intent)
        cut = truncated_customer_fields(customer)
        if cut:
            self.warn(
                WarningCode.FIELD_TRUNCATED,
                f"customer {customer.id}: {', '.join(cut)} longer than QBO holds, so cut in QBO",
            )
        try:
            created = self._create(
                creating,
                {**customer_body(customer, customer.display_name), **(created_with or {})},
                "create",
                generation,
            )
        except QboDuplicateName:
            # The open intent's lookup already proved no active customer has the name.
            found = (
                None
                if open_intent is not None
                else self._find("Customer", "DisplayName", customer.display_name)
            )
            if found is not None:
                return _customer_of(self._link(creating, found, "matched"))
            if self._config.settings.name_collision_policy != "suffix":
                raise
            return _customer_of(self._suffixed_customer(creating, customer, created_with, generation))
        return _customer_of(self._link(creating, created, "qbosync"))

    def _suffixed_customer(
        self,
        creating: _Creation,
        customer: SourceCustomer,
        created_with: Mapping[str, Any] | None,
        generation: int,
    ) -> Link:
        """The customer under a suffixed name: a vendor, employee or inactive customer holds its own."""
        name = suffixed_name(customer.display_name)
        found = self._find("Customer", "DisplayName", name)
        if found is None:
            found = self._create(
                creating,
                {**customer_body(customer, name), **(created_with or {})},
                "create-suffixed",
                generation,
            )
        self.warn(
            WarningCode.NAME_SUFFIXED,
            f"customer {customer.id}: QBO has the name {customer.display_name!r} already (a vendor or"
            f" employee), so it is {name!r} in QBO",
        )
        return self._link(creating, found, "matched")

    # Lines

    def line(self, line: SourceLine) -> ResolvedLine:
        """A source line with its QBO item, income account, tax code and class."""
        settings = self._config.settings
        mapped_tax_code = self._config.mapped(MappingKind.TAX_CODES, line.tax_code)
        tax_code = mapped_tax_code or settings.qbo_defaults.invoice_tax_code_id
        # A tenant that maps no tax code leaves tax to QBO on purpose; one that maps some missed this one.
        if line.tax_code and mapped_tax_code is None and self._config.mappings.get(MappingKind.TAX_CODES):
            used = f"the default tax code {tax_code}" if tax_code else "no tax code (QBO's own rules)"
            self.warn(
                WarningCode.TAX_CODE_NOT_MAPPED,
                f"line {line.id}: source tax code {line.tax_code!r} has no tax-codes mapping, so {used}"
                " was used",
            )
        if line.description and len(line.description) > LINE_DESCRIPTION_MAX:
            self.warn(
                WarningCode.FIELD_TRUNCATED,
                f"line {line.id}: its description was cut to QBO's {LINE_DESCRIPTION_MAX} characters",
            )
        return ResolvedLine(
            line=line,
            item_id=self._item_for(line),
            income_account_id=self._config.mapped(MappingKind.GL_CODES, line.gl_code),
            tax_code_id=tax_code,
            class_id=settings.qbo_defaults.invoice_class_id,
        )

    def _item_for(self, line: SourceLine) -> str:
        defaults = self._config.settings.qbo_defaults
        if line.product_id is None:
            if defaults.unmatched_one_time_item_id:
                self.warn(
                    WarningCode.DEFAULT_ITEM_USED,
                    f"line {line.id} has no product: QBO item {defaults.unmatched_one_time_item_id}"
                    " (unmatched one-time products) was used",
                )
                return defaults.unmatched_one_time_item_id
            raise MissingMapping(
                "qbo_defaults",
                "unmatched_one_time_item_id",
                "a line without a product needs the QBO item for unmatched one-time products",
            )
        link = self._links.get(self._tenant_id, ITEM, line.product_id)
        if link is not None:
            return link.qbo_id
        product = self._product(line.product_id)
        mapped = self._config.mapped(MappingKind.INCOME_ACCOUNTS, product.income_account)
        if mapped is not None:
            return mapped
        problem = self._item_creation_problem(product)
        if problem is None:
            return self._ensure_item(product)
        default = (
            defaults.unmatched_recurring_item_id
            if product.billing == "recurring"
            else defaults.unmatched_one_time_item_id
        )
        if default:
            self.warn(
                WarningCode.DEFAULT_ITEM_USED,
                f"line {line.id}: product {product.id} has no QBO item ({problem.message}), so QBO item"
                f" {default} (unmatched {product.billing.replace('_', '-')} products) was used",
            )
            return default
        raise problem

    def item_creation_problem(self, product: SourceProduct) -> MissingMapping | None:
        """Why the mappings do not let ``product`` have a QBO item of its own (None: they do)."""
        return self._item_creation_problem(product)

    def create_item(self, product: SourceProduct) -> str:
        """The QBO item of ``product``: one of that name adopted, else created; linked either way."""
        return self._ensure_item(product)

    def _item_creation_problem(self, product: SourceProduct) -> MissingMapping | None:
        settings = self._config.settings
        if not settings.sync.products:
            return MissingMapping(
                MappingKind.INCOME_ACCOUNTS.value,
                product.income_account or product.id,
                f"product {product.id} has no QBO item: map its income account or set an unmatched default",
            )
        product_types = self._config.mappings.get(MappingKind.PRODUCT_TYPES, {})
        gl_codes = self._config.mappings.get(MappingKind.GL_CODES, {})
        problem = mapping_problem(product, product_types, gl_codes)
        if problem is None:
            return None
        if product.product_type not in product_types:
            return MissingMapping(MappingKind.PRODUCT_TYPES.value, product.product_type, problem)
        return MissingMapping(MappingKind.GL_CODES.value, product.gl_code or product.id, problem)

    def _ensure_item(self, product: SourceProduct) -> str:
        name = qbo_item_name(product.name)
        if name != product.name:
            self.warn(
                WarningCode.NAME_TRUNCATED,
                f"product {product.id}: {product.name!r} is {name!r} in QBO (QBO item names hold 100"
                " characters and no ':')",
            )
        creating = _Creation(ITEM, product.id, product.version, "Name")
        open_intent = self._ledger.open(self._tenant_id, ITEM, product.id)
        if open_intent is not None:
            found = self._find("Item", "Name", name)
            if found is not None:
                return self._link(creating, found, _origin_of_found(open_intent)).qbo_id
        item_type = self._config.mappings[MappingKind.PRODUCT_TYPES][product.product_type]
        account = self._config.mappings[MappingKind.GL_CODES][product.gl_code or ""]
        body = item_body(product, item_type, account, name)
        try:
            created = self._create(creating, body, "create", _next_generation(open_intent))
        except QboDuplicateName:
            # An inactive item holds the name when no active one does (the open intent's lookup proved that).
            found = None if open_intent is not None else self._find("Item", "Name", name)
            if found is None:
                raise
            return self._link(creating, found, "matched").qbo_id
        return self._link(creating, created, "qbosync").qbo_id

    def _product(self, product_id: str) -> SourceProduct:
        if product_id not in self._products:
            self._products[product_id] = self._source.get_product(product_id)
        return self._products[product_id]

    # Plumbing

    def _find(self, entity: str, field_name: str, value: str) -> dict[str, Any] | None:
        # QBO's query language, the value quoted by qbo_literal.
        rows = self._qbo.query(f"SELECT * FROM {entity} WHERE {field_name} = {qbo_literal(value)}")  # noqa: S608
        wanted = name_key(value)
        return next((row for row in rows if name_key(str(row.get(field_name, ""))) == wanted), None)

    def _create(
        self, creating: _Creation, body: dict[str, Any], operation: str, generation: int
    ) -> dict[str, Any]:
        """Record the intent, then create; when the outcome is unknown, look for the record by name
        before giving up (the intent stays open for the next delivery to resolve)."""
        named = operation if generation == 0 else f"{operation}#g{generation}"
        entity = creating.entity
        request_id = request_id_for(self._tenant_id, entity, creating.source_id, str(creating.version), named)
        self._ledger.begin(
            WriteIntent(
                tenant_id=self._tenant_id,
                link_entity=entity,
                qbo_entity=entity,
                source_id=creating.source_id,
                version=creating.version,
                operation=operation,
                request_id=request_id,
                started_at=self._clock(),
                generation=generation,
            )
        )
        try:
            return self._qbo.create(entity, body, request_id)
        except QboUncertainOutcome:
            found = self._find(entity, creating.name_field, str(body[creating.name_field]))
            if found is None:
                raise
            return found

    def _link(self, creating: _Creation, record: Mapping[str, Any], origin: LinkOrigin) -> Link:
        """Record the link, settling the create's intent in the same transaction; the link recorded (or
        the newer one already there)."""
        entity, source_id = creating.entity, creating.source_id
        link = new_link(self._tenant_id, entity, source_id, creating.version, record, origin, self._clock())
        try:
            self._links.put(link, together=[self._ledger.settle_op(self._tenant_id, entity, source_id)])
        except StaleSourceVersion:
            self._ledger.settle(self._tenant_id, entity, source_id)
            current: Link | None = self._links.get(self._tenant_id, entity, source_id)
            if current is not None:
                return current
        return link


@dataclass(frozen=True)
class QboCustomer:
    """A source customer's QBO customer: its id, and its currency when its link keeps it."""

    qbo_id: str
    currency: str | None


def _customer_of(link: Link) -> QboCustomer:
    return QboCustomer(link.qbo_id, link.currency)


@dataclass(frozen=True)
class _Creation:
    """A customer or item the push may create: its link entity (also QBO's), source id and version,
    and the field QBO keeps unique for it."""

    entity: str
    source_id: str
    version: int
    name_field: str


def _origin_of_found(open_intent: WriteIntent | None) -> LinkOrigin:
    """A record found by name while a create of it was open is the one that create made."""
    return "qbosync" if open_intent is not None and open_intent.is_create else "matched"


def _next_generation(open_intent: WriteIntent | None) -> int:
    """The name lookup proved the open create's record absent: a requestid QBO never saw."""
    return open_intent.generation + 1 if open_intent is not None and open_intent.is_create else 0

"""Source products → QBO Items: created when first seen, sparse-updated on an edit, deactivated when the
product is deactivated or deleted (QBO never deletes items, it makes them inactive).

The mappings decide, as they do for an item a document line needs (``references``):
- a product whose income account the income-accounts mapping names is invoiced as that QBO item, so it
  gets no item of its own (nothing is written);
- otherwise the product-types mapping gives the QBO item type and the gl-codes mapping its income
  account; a product they do not cover fails with ``missing_mapping`` until an admin maps it.

Creates go through ``QboReferences.create_item`` (the same create, name match and link as a document
line's item). Updates and deactivations go through ``QboWriter.update``: the write ledger records the
intent, the sparse update carries the link's SyncToken (a stale one is read again and re-applied once),
and the link is recorded at the product's version in the same transaction that settles the intent. An
item qbosync created keeps following the product's type; an item the initial sync matched keeps the
type it has in QBO (QBO refuses some type changes, and the admin chose that item).
"""

from __future__ import annotations

from typing import Any

from qbosync.source.models import SourceProduct
from qbosync.store.events import WarningCode
from qbosync.store.links import Link
from qbosync.sync.configuration import MappingKind
from qbosync.sync.push.transform import content_hash
from qbosync.sync.push.writer import Applied, DocumentPush, Target, relinked
from qbosync.sync.records.items import item_body
from qbosync.sync.records.links import ITEM
from qbosync.sync.records.names import qbo_item_name

QBO_ITEM = "Item"


class ProductPush(DocumentPush):
    """One tenant's product writes."""

    def product(self, source_id: str) -> Applied:
        if not self._config.settings.sync.products:
            return Applied(reason="product sync is turned off")
        product = self._source.get_product(source_id)
        link = self._links.get(self._tenant, ITEM, source_id)
        if link is not None and link.source_version >= product.version:
            return Applied(reason="this version is already in QBO", qbo_id=link.qbo_id)
        retired = product.deleted or not product.active
        if link is None or not link.is_live:
            if retired:
                return Applied(reason="inactive in the source and not in QBO: nothing to write")
            return self._create(product)
        if retired:
            return self._deactivate(product, link)
        return self._update(product, link)

    def _represented_by(self, product: SourceProduct) -> str | None:
        """The QBO item the income-accounts mapping invoices this product as, if it names one."""
        return self._config.mapped(MappingKind.INCOME_ACCOUNTS, product.income_account)

    def _create(self, product: SourceProduct) -> Applied:
        represented = self._represented_by(product)
        if represented is not None:
            return Applied(
                reason=f"invoiced as QBO item {represented} (income-accounts mapping of"
                f" {product.income_account}): no item of its own to create",
                qbo_id=represented,
            )
        problem = self._references.item_creation_problem(product)
        if problem is not None:
            raise problem
        qbo_id = self._references.create_item(product)
        return Applied(reason=f"QBO item {qbo_id} created or matched by name", qbo_id=qbo_id)

    def _update(self, product: SourceProduct, link: Link) -> Applied:
        problem = self._references.item_creation_problem(product)
        if problem is not None:
            raise problem
        mappings = self._config.mappings
        name = qbo_item_name(product.name)
        if name != product.name:
            self._references.warn(
                WarningCode.NAME_TRUNCATED,
                f"product {product.id}: {product.name!r} is {name!r} in QBO (QBO item names hold 100"
                " characters and no ':')",
            )
        body: dict[str, Any] = {
            **item_body(
                product,
                mappings[MappingKind.PRODUCT_TYPES][product.product_type],
                mappings[MappingKind.GL_CODES][product.gl_code or ""],
                name,
            ),
            "Active": True,
        }
        if link.origin != "qbosync":
            del body["Type"]  # a matched item keeps the type it has in QBO
        written = self._write(product, link, body)
        return Applied(reason=f"QBO item {written.qbo_id} updated", qbo_id=written.qbo_id)

    def _deactivate(self, product: SourceProduct, link: Link) -> Applied:
        body = {"Name": qbo_item_name(product.name), "Active": False}
        written = self._write(product, link, body)
        state = "deleted" if product.deleted else "deactivated"
        return Applied(
            reason=f"{state} in the source: QBO item {written.qbo_id} made inactive", qbo_id=written.qbo_id
        )

    def _write(self, product: SourceProduct, link: Link, body: dict[str, Any]) -> Link:
        """Sparse-update the linked item (unless it already holds ``body``) and link it at this version."""
        target = Target(QBO_ITEM, ITEM, product.id, product.version)
        digest = content_hash(body)
        if link.content_hash == digest:
            return self._writer.record(link, product.version)
        record = self._writer.update(target, link.qbo_id, link.sync_token, body, mark=False)
        return self._writer.record(relinked(link, record, digest), product.version)

"""One page of source customers → QBO: skip the linked, match the rest, create what is missing.

Matching follows the tenant's rule (display name, email, or both) with one ``IN`` query per page (more
only when the names do not fit one URL). Creation goes through the batch API; a DisplayName already
used by a vendor or employee (6240) is resolved per the name-collision policy: a deterministic suffix,
or reported as skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbosync.source.models import SourceCustomer
from qbosync.store.links import LinkOrigin
from qbosync.sync.bulk.common import (
    BatchLedger,
    Creation,
    Tally,
    create_with_name_policy,
    created_during_run,
    noted_link,
    query_in,
    records_to_sync,
    settle_linked,
)
from qbosync.sync.bulk.models import PageDescriptor
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.records.customers import customer_body
from qbosync.sync.records.links import CUSTOMER, new_link
from qbosync.sync.records.names import name_key, suffixed_name


def _email_of(row: Mapping[str, Any]) -> str:
    address = row.get("PrimaryEmailAddr")
    value = address.get("Address") if isinstance(address, Mapping) else None
    return name_key(value) if isinstance(value, str) else ""


class _QboCustomers:
    """The QBO customers a page could match, indexed by display name and by email."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.by_name: dict[str, dict[str, Any]] = {}
        self.by_email: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            self.by_name.setdefault(name_key(str(row.get("DisplayName", ""))), row)
            email = _email_of(row)
            if email and row not in self.by_email.setdefault(email, []):
                self.by_email[email].append(row)


def sync_customer_page(context: PageContext, page: PageDescriptor) -> Tally:
    """Sync one page of source customers into QBO; links are recorded before this returns."""
    tally = Tally()
    settings = context.config.settings
    listing = context.source.list_customers(page.cursor, page.limit)
    linked: list[str] = []
    pending = records_to_sync(
        listing.items,
        tally,
        lambda source_id: noted_link(context.links.get(context.tenant_id, CUSTOMER, source_id), linked),
        context.config.run_started_at,
    )
    if not pending:
        settle_linked(context.ledger, context.tenant_id, CUSTOMER, linked)
        return tally

    candidates = _find_candidates(context, tally, pending)
    links = []
    to_create: list[tuple[SourceCustomer, Creation]] = []
    for customer in pending:
        match, problem = _match(
            customer, candidates, settings.customer_matching, settings.name_collision_policy
        )
        if problem is not None:
            tally.skip(customer.id, problem[0], problem[1])
        elif match is not None:
            origin: LinkOrigin = (
                "qbosync" if created_during_run(match, context.config.run_started_at) else "matched"
            )
            links.append(
                new_link(
                    context.tenant_id,
                    CUSTOMER,
                    customer.id,
                    customer.version,
                    match,
                    origin,
                    context.clock(),
                )
            )
            tally.count_link(origin)
        else:
            creation = Creation(customer.id, customer.version, customer_body(customer, customer.display_name))
            to_create.append((customer, creation))
    if links:
        context.links.put_many(links)
    settle_linked(context.ledger, context.tenant_id, CUSTOMER, linked + [link.source_id for link in links])

    _create(context, tally, to_create)
    return tally


def _find_candidates(context: PageContext, tally: Tally, pending: list[SourceCustomer]) -> _QboCustomers:
    rule = context.config.settings.customer_matching
    if rule == "email":
        emails = [customer.email for customer in pending if customer.email]
        return _QboCustomers(query_in(context.qbo, tally, "Customer", "PrimaryEmailAddr", emails))
    names = [customer.display_name for customer in pending]
    if context.config.settings.name_collision_policy == "suffix":
        # A customer created under its suffixed name by an earlier attempt is found, not created again.
        names += [suffixed_name(name) for name in names]
    return _QboCustomers(query_in(context.qbo, tally, "Customer", "DisplayName", names))


def _match(
    customer: SourceCustomer, candidates: _QboCustomers, rule: str, collision_policy: str
) -> tuple[dict[str, Any] | None, tuple[SkipReason, str] | None]:
    """The QBO customer this source customer is, or why it cannot be decided (code and message)."""
    email = name_key(customer.email) if customer.email else ""
    if rule == "email":
        if not email:
            return None, None
        found = candidates.by_email.get(email, [])
        if len(found) > 1:
            message = f"ambiguous: {len(found)} QBO customers have this email"
            return None, (SkipReason.AMBIGUOUS_MATCH, message)
        return (found[0] if found else None), None
    by_name = candidates.by_name.get(name_key(customer.display_name))
    if by_name is None and collision_policy == "suffix":
        by_name = candidates.by_name.get(name_key(suffixed_name(customer.display_name)))
    if by_name is None:
        return None, None
    if rule == "both" and _email_of(by_name) != email:
        return None, (
            SkipReason.EMAIL_MISMATCH,
            "a QBO customer has this display name but a different email",
        )
    return by_name, None


def _create(context: PageContext, tally: Tally, to_create: list[tuple[SourceCustomer, Creation]]) -> None:
    if not to_create:
        return
    by_id = {customer.id: customer for customer, _ in to_create}

    def record(created: list[tuple[Creation, dict[str, Any]]]) -> None:
        context.record_created_links(CUSTOMER, created)

    def renamed(creation: Creation) -> Creation:
        customer = by_id[creation.source_id]
        return Creation(
            creation.source_id,
            creation.source_version,
            customer_body(customer, suffixed_name(customer.display_name)),
        )

    create_with_name_policy(
        context.qbo,
        tally,
        tenant_id=context.tenant_id,
        entity="Customer",
        creations=[creation for _, creation in to_create],
        batch_size=context.batch_size,
        on_created=record,
        writes=BatchLedger(context.ledger, context.clock),
        policy=context.config.settings.name_collision_policy,
        renamed=renamed,
        name_taken="name conflict: another QBO customer, vendor or employee already uses this display name",
        both_taken="name conflict: the display name and its suffixed form are both taken",
    )

"""One page of source customers → QBO: skip the linked, match the rest, create what is missing.

Matching follows the tenant's rule (display name, email, or both) with one ``IN`` query per page (more
only when the names do not fit one URL). Creation goes through the batch API; a DisplayName already
used by a vendor or employee (6240) is resolved per the name-collision policy: a deterministic suffix,
or reported as skipped with the reason. A customer created under the suffixed name, or with a field cut
to QBO's length, is counted as a warning of the run (the push's ``WarningCode``s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qbosync.source.models import SourceCustomer
from qbosync.store.events import WarningCode
from qbosync.store.links import LinkOrigin
from qbosync.store.onboarding import (
    Candidate,
    CandidateReason,
    PlanAction,
    PlanEntry,
    SuggestionStatus,
    json_body,
)
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
from qbosync.sync.records.customers import customer_body, truncated_customer_fields
from qbosync.sync.records.links import CUSTOMER, new_link
from qbosync.sync.records.names import name_key, suffixed_name


def _email_of(row: Mapping[str, Any]) -> str:
    address = row.get("PrimaryEmailAddr")
    value = address.get("Address") if isinstance(address, Mapping) else None
    return name_key(value) if isinstance(value, str) else ""


class _QboCustomers:
    """The QBO customers a page could match, indexed by display name and by email."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, list[dict[str, Any]]] = {}
        self.by_email: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if str(row.get("Id")) in self.by_id:
                continue
            self.by_id[str(row.get("Id"))] = row
            self.by_name.setdefault(name_key(str(row.get("DisplayName", ""))), []).append(row)
            email = _email_of(row)
            if email:
                self.by_email.setdefault(email, []).append(row)


@dataclass(frozen=True)
class CustomerDecision:
    """What a run does with one unlinked source customer, and why (the dry run's plan entry)."""

    customer: SourceCustomer
    action: PlanAction
    code: str
    reason: str
    match: dict[str, Any] | None = None
    candidates: tuple[Candidate, ...] = ()
    chosen_qbo_id: str | None = None

    def body(self) -> dict[str, Any] | None:
        if self.action is not PlanAction.CREATE:
            return None
        return customer_body(self.customer, self.customer.display_name)

    def entry(self) -> PlanEntry:
        """This decision as a dry run's plan records it."""
        return PlanEntry(
            entity=CUSTOMER,
            source_id=self.customer.id,
            source_version=self.customer.version,
            action=self.action,
            reason_code=self.code,
            reason=self.reason,
            qbo_id=str(self.match["Id"]) if self.match is not None else self.chosen_qbo_id,
            qbo_body=json_body(self.body()),
            candidates=list(self.candidates),
        )


def sync_customer_page(context: PageContext, page: PageDescriptor) -> Tally:
    """Sync one page of source customers into QBO; links are recorded before this returns."""
    tally = Tally()
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

    links = []
    to_create: list[tuple[SourceCustomer, Creation]] = []
    for decision in decide_customers(context, tally, pending):
        customer = decision.customer
        if context.departs_from_plan(decision.entry()):
            tally.skip(customer.id, SkipReason.PLAN_CHANGED, "changed since the plan this run follows")
        elif decision.action is PlanAction.MATCH:
            match = decision.match or context.qbo.read("Customer", str(decision.chosen_qbo_id))
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
            if origin == "qbosync":  # an earlier attempt of this run created it: its warnings still count
                warn_of_improvisations(tally, customer, match)
        elif decision.action is PlanAction.CREATE:
            creation = Creation(customer.id, customer.version, customer_body(customer, customer.display_name))
            to_create.append((customer, creation))
        else:
            tally.skip(customer.id, SkipReason(decision.code), decision.reason)
            if decision.action is PlanAction.SUGGESTION:
                context.open_suggestion(CUSTOMER, customer.id, customer.display_name, decision.candidates)
    if links:
        context.links.put_many(links)
    settle_linked(context.ledger, context.tenant_id, CUSTOMER, linked + [link.source_id for link in links])

    _create(context, tally, to_create)
    return tally


def decide_customers(
    context: PageContext, tally: Tally, pending: list[SourceCustomer]
) -> list[CustomerDecision]:
    """Match, create, skip or ask, for each unlinked customer of a page: what the real run does and
    what a dry run plans (one or a few QBO queries, counted in ``tally``; nothing written)."""
    settings = context.config.settings
    candidates = _find_candidates(context, tally, pending)
    decisions = []
    for customer in pending:
        decided = _decided(context, customer, candidates)
        if decided is not None:
            decisions.append(decided)
            continue
        match, problem = _match(
            customer, candidates, settings.customer_matching, settings.name_collision_policy
        )
        if isinstance(problem, tuple):
            code, reason = problem
            decisions.append(CustomerDecision(customer, PlanAction.SKIP, code.value, reason))
        elif problem is not None:
            decisions.append(problem)
        elif match is not None:
            decisions.append(
                CustomerDecision(customer, PlanAction.MATCH, "matched", "the QBO customer it is", match)
            )
        else:
            decisions.append(
                CustomerDecision(customer, PlanAction.CREATE, "no_match", "no QBO customer matches it")
            )
    return decisions


def _decided(
    context: PageContext, customer: SourceCustomer, candidates: _QboCustomers
) -> CustomerDecision | None:
    """An admin's decision on this customer's ambiguous match, remembered across runs."""
    if context.suggestions is None:
        return None
    suggestion = context.suggestions.get(context.tenant_id, CUSTOMER, customer.id)
    if suggestion is None or suggestion.status is SuggestionStatus.OPEN:
        return None
    if suggestion.status is SuggestionStatus.CONFIRMED and suggestion.chosen_qbo_id is not None:
        return CustomerDecision(
            customer,
            PlanAction.MATCH,
            "confirmed_by_admin",
            f"an admin confirmed QBO customer {suggestion.chosen_qbo_id}",
            candidates.by_id.get(suggestion.chosen_qbo_id),
            chosen_qbo_id=suggestion.chosen_qbo_id,
        )
    if suggestion.status is SuggestionStatus.CREATE_NEW:
        return CustomerDecision(
            customer, PlanAction.CREATE, "create_confirmed_by_admin", "an admin chose to create a new one"
        )
    return CustomerDecision(
        customer, PlanAction.SKIP, SkipReason.SKIPPED_BY_ADMIN.value, "an admin chose to skip it"
    )


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


def _candidates(customer: SourceCustomer, rows: list[dict[str, Any]]) -> tuple[Candidate, ...]:
    """Why each QBO customer is a candidate for ``customer``: exact e-mail, exact name, or both."""
    email = name_key(customer.email) if customer.email else ""
    name = name_key(customer.display_name)
    found = []
    for row in rows:
        reasons = []
        if email and _email_of(row) == email:
            reasons.append(CandidateReason.EXACT_EMAIL)
        if name_key(str(row.get("DisplayName", ""))) == name:
            reasons.append(CandidateReason.EXACT_NAME)
        found.append(
            Candidate(
                qbo_id=str(row.get("Id")),
                name=str(row.get("DisplayName", "")),
                email=_email_of(row) or None,
                reasons=reasons,
            )
        )
    return tuple(found)


def _ambiguous(customer: SourceCustomer, rows: list[dict[str, Any]], what: str) -> CustomerDecision:
    return CustomerDecision(
        customer,
        PlanAction.SUGGESTION,
        SkipReason.AMBIGUOUS_MATCH.value,
        f"ambiguous: {len(rows)} QBO customers have this {what}; confirm one, or create or skip",
        candidates=_candidates(customer, rows),
    )


def _match(
    customer: SourceCustomer, candidates: _QboCustomers, rule: str, collision_policy: str
) -> tuple[dict[str, Any] | None, tuple[SkipReason, str] | CustomerDecision | None]:
    """The QBO customer this source customer is, or why it cannot be decided (a skip's code and
    message, or a suggestion for an admin when several QBO customers fit)."""
    email = name_key(customer.email) if customer.email else ""
    if rule == "email":
        found = candidates.by_email.get(email, []) if email else []
        what = "email"
    else:
        found = candidates.by_name.get(name_key(customer.display_name), [])
        if not found and collision_policy == "suffix":
            found = candidates.by_name.get(name_key(suffixed_name(customer.display_name)), [])
        what = "display name"
    if len(found) > 1:
        return None, _ambiguous(customer, found, what)
    if not found:
        return None, None
    if rule == "both" and _email_of(found[0]) != email:
        return None, (
            SkipReason.EMAIL_MISMATCH,
            "a QBO customer has this display name but a different email",
        )
    return found[0], None


def _create(context: PageContext, tally: Tally, to_create: list[tuple[SourceCustomer, Creation]]) -> None:
    if not to_create:
        return
    by_id = {customer.id: customer for customer, _ in to_create}

    def record(created: list[tuple[Creation, dict[str, Any]]]) -> None:
        context.record_created_links(CUSTOMER, created)
        for creation, row in created:
            warn_of_improvisations(tally, by_id[creation.source_id], row)

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


def warn_of_improvisations(tally: Tally, customer: SourceCustomer, created: Mapping[str, Any]) -> None:
    """Where the QBO customer this run created differs from the source's: a suffixed display name (QBO
    had the name already), fields cut to QBO's lengths. The same warnings the push gives."""
    qbo_name = str(created.get("DisplayName", ""))
    if name_key(qbo_name) != name_key(customer.display_name):
        tally.warn(
            customer.id,
            WarningCode.NAME_SUFFIXED,
            f"customer {customer.id}: QBO has the name {customer.display_name!r} already (a vendor or"
            f" employee), so it is {qbo_name!r} in QBO",
        )
    cut = truncated_customer_fields(customer)
    if cut:
        tally.warn(
            customer.id,
            WarningCode.FIELD_TRUNCATED,
            f"customer {customer.id}: {', '.join(cut)} longer than QBO holds, so cut in QBO",
        )

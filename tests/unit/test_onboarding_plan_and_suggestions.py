"""The initial sync's dry run (a plan the real run then follows) and ambiguous matches an admin decides."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from qbosync.qbo.client import QboClient
from qbosync.store.connections import Connection
from qbosync.store.executions import ExecutionStartFailed
from qbosync.store.links import LinkRepository
from qbosync.store.onboarding import (
    PlanAction,
    PlanRepository,
    PlanSummary,
    SuggestionRepository,
    SuggestionStatus,
)
from qbosync.store.runs import SyncRun
from qbosync.store.table import MainTable, tenant_pk
from qbosync.sync.bulk.common import page_descriptors
from qbosync.sync.bulk.customers import sync_customer_page
from qbosync.sync.bulk.dependencies import BulkSyncDependencies
from qbosync.sync.bulk.errors import BulkSyncPageRejected, BulkSyncPlanStale
from qbosync.sync.bulk.models import PageDescriptor, RunConfig, StepFunctionsError
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.plan import (
    PREPARE_READS,
    InitialSyncPlanner,
    PlanNotReady,
    PlanStale,
    plan_as_csv,
)
from qbosync.sync.bulk.plan_tasks import (
    PlanAfterPagesEvent,
    PlanFailEvent,
    PlanFinishEvent,
    PlanPageEvent,
    PlanPrepareEvent,
    plan_after_pages_step,
    plan_fail,
    plan_finish,
    plan_page,
    plan_prepare,
)
from qbosync.sync.bulk.products import sync_product_page
from qbosync.sync.bulk.qbo_to_source import customers_to_source
from qbosync.sync.bulk.recheck import (
    RecheckAfterPagesEvent,
    RecheckFinishEvent,
    RecheckPageEvent,
    recheck_after_pages,
    recheck_finish,
    recheck_page,
)
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.configuration import SyncToggles
from qbosync.sync.onboarding.suggestions import (
    NotACandidate,
    SuggestionDecision,
    SuggestionService,
)
from qbosync.sync.records.items import unmatched_item_source_key
from qbosync.sync.records.links import new_link
from tests.support.bulk_harness import (  # noqa: F401 (fixtures)
    QboWorld,
    SourceWorld,
    links_fixture,
    qbo_fixture,
    run_config,
    source_world,
)

TENANT = "acme"
CUSTOMERS = PageDescriptor(entity="customers", page_no=1, cursor=None, limit=50)
PRODUCTS = PageDescriptor(entity="products", page_no=1, cursor=None, limit=50)


@pytest.fixture
def source() -> Iterator[SourceWorld]:
    with source_world([TENANT], customers=12, products=8) as world:
        yield world


class World:
    def __init__(self, qbo: QboWorld, source: SourceWorld, links: LinkRepository, **settings: Any) -> None:
        self.qbo_world = qbo
        self.client: QboClient = qbo.client(qbo.realms[0])
        self.source_world = source
        self.source = source.adapter(TENANT)
        self.links = links
        self.frozen = run_config(self.client, **settings)
        self.suggestions = SuggestionRepository()
        self.deps = BulkSyncDependencies(
            qbo_for=lambda _t: self.client,
            source_for=lambda _t: self.source,
            links=links,
            clock=self.now,
            suggestions=self.suggestions,
            plans=PlanRepository(),
        )
        self.planner = InitialSyncPlanner(self.deps, page_size=50, config_for=self.config)

    def now(self) -> datetime:
        """QBO's clock: what exists in QBO before a run was created before the run started."""
        return datetime.fromtimestamp(self.qbo_world.sandbox.clock.now() + 1.0, UTC)

    def config(self, _tenant: str, started_at: datetime) -> RunConfig:
        return self.frozen.model_copy(update={"run_started_at": started_at})

    def context(self) -> PageContext:
        return PageContext(
            tenant_id=TENANT,
            run_id="run-1",
            config=self.config(TENANT, self.now()),
            qbo=self.client,
            source=self.source,
            links=self.links,
            clock=self.now,
            suggestions=self.suggestions,
        )

    def run(self) -> None:
        """The real run's pages (one page of each: the worlds are small)."""
        sync_customer_page(self.context(), CUSTOMERS)
        sync_product_page(self.context(), PRODUCTS)

    def qbo_requests(self) -> int:
        return int(self.qbo_world.sandbox.stats.requests_by_realm[self.qbo_world.realms[0]])

    def qbo_customer(self, name: str, email: str) -> dict[str, Any]:
        """A customer someone entered in QBO before qbosync (aged, so no run counts it as its own)."""
        made = self.client.create(
            "Customer", {"DisplayName": name, "PrimaryEmailAddr": {"Address": email}}, f"make-{name}"
        )
        self.qbo_world.age_existing_records()
        return made

    def qbo_item(self, name: str, sku: str, income_account_id: str) -> dict[str, Any]:
        """An item someone entered in QBO before qbosync, with a SKU (aged like the customers)."""
        made = self.client.create(
            "Item",
            {"Name": name, "Sku": sku, "Type": "Service", "IncomeAccountRef": {"value": income_account_id}},
            f"make-{name}",
        )
        self.qbo_world.age_existing_records()
        return made


def test_given_a_dry_run_when_the_real_run_follows_on_unchanged_data_then_it_does_exactly_the_plan(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links)
    first = world.source.list_customers(None, 50).items[0]
    existing = world.qbo_customer(first.display_name, "someone@example.com")
    requests_before = world.qbo_requests()

    summary = world.planner.plan(TENANT, "admin-1")

    entries = PlanRepository().all_entries(TENANT, summary.plan_id)
    assert world.qbo_requests() - requests_before == summary.dry_run_reads, "the plan counts its reads"
    assert summary.qbo_reads == PREPARE_READS + 2 * summary.dry_run_reads, "Prepare, the re-check, the pages"
    assert summary.entries == len(entries) == 12 + 8
    world.planner.recheck(TENANT, summary.plan_id)  # nothing changed: the plan holds
    world.run()
    for entry in entries:
        link = links.get(TENANT, entry.entity, entry.source_id)
        if entry.action is PlanAction.MATCH:
            assert link is not None and link.qbo_id == entry.qbo_id and link.origin == "matched"
        elif entry.action is PlanAction.CREATE:
            assert link is not None and link.origin == "qbosync", entry
            created = world.client.read(entry.entity, link.qbo_id)
            name_field = "DisplayName" if entry.entity == "Customer" else "Name"
            assert entry.qbo_body is not None and created[name_field] == entry.qbo_body[name_field]
        else:
            assert link is None, entry
    matched = [e for e in entries if e.action is PlanAction.MATCH and e.entity == "Customer"]
    assert [(e.source_id, e.qbo_id) for e in matched] == [(first.id, existing["Id"])]
    assert {e.action for e in entries if e.entity == "Item"} >= {PlanAction.CREATE, PlanAction.SKIP}
    assert plan_as_csv(entries).splitlines()[0].startswith("entity,source_id,source_version,action")


def test_given_a_dry_run_when_a_customer_changes_before_the_real_run_then_the_plan_is_refused_as_stale(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links)
    summary = world.planner.plan(TENANT, "admin-1")
    customer = world.source.list_customers(None, 50).items[2]
    world.source_world.http.put(
        f"/_sandbox/tenants/{TENANT}/customers/{customer.id}", json={"display_name": "Renamed Ltd"}
    ).raise_for_status()

    with pytest.raises(PlanStale) as refused:
        world.planner.recheck(TENANT, summary.plan_id)

    assert [(d["source_id"], d["planned"]["action"]) for d in refused.value.details] == [
        (customer.id, "create")
    ]
    assert links.list(TENANT, "Customer").items == [], "nothing was written"


def test_given_two_qbo_customers_share_an_email_when_one_is_confirmed_and_one_rejected_then_runs_follow(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links, customer_matching="email")
    confirmed_customer, rejected_customer = [
        c for c in world.source.list_customers(None, 50).items if c.email
    ][:2]
    pair = [world.qbo_customer(f"Shared A {n}", str(confirmed_customer.email)) for n in (1, 2)]
    for n in (1, 2):
        world.qbo_customer(f"Shared B {n}", str(rejected_customer.email))
    service = SuggestionService(world.suggestions, world.now)

    world.run()

    listed = {s.source_id: s for s in service.list(TENANT).items}
    assert set(listed) == {confirmed_customer.id, rejected_customer.id}
    assert [c.reasons for c in listed[confirmed_customer.id].candidates] == [["exact_email"]] * 2
    assert links.get(TENANT, "Customer", confirmed_customer.id) is None, "nothing linked until decided"
    assert links.get(TENANT, "Customer", rejected_customer.id) is None
    with pytest.raises(NotACandidate):
        service.decide(
            TENANT, "Customer", confirmed_customer.id, SuggestionDecision(action="confirm", qbo_id="999"), "a"
        )

    service.decide(
        TENANT,
        "Customer",
        confirmed_customer.id,
        SuggestionDecision(action="confirm", qbo_id=str(pair[1]["Id"])),
        "admin-1",
    )
    service.decide(TENANT, "Customer", rejected_customer.id, SuggestionDecision(action="create"), "admin-1")
    world.run()
    world.run()  # decisions are remembered: a later run changes nothing

    confirmed_link = links.get(TENANT, "Customer", confirmed_customer.id)
    assert confirmed_link is not None and confirmed_link.qbo_id == str(pair[1]["Id"])
    created = links.get(TENANT, "Customer", rejected_customer.id)
    assert created is not None and created.origin == "qbosync"
    assert created.qbo_id not in {
        str(row["Id"]) for row in world.client.query_all("Customer", "DisplayName LIKE 'Shared B%'")
    }
    statuses = {s.source_id: s.status for s in service.list(TENANT).items}
    assert statuses == {
        confirmed_customer.id: SuggestionStatus.CONFIRMED,
        rejected_customer.id: SuggestionStatus.CREATE_NEW,
    }


def test_given_a_run_following_a_plan_when_a_customer_changed_since_then_the_run_leaves_it_for_a_new_plan(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links)
    summary = world.planner.plan(TENANT, "admin-1")
    changed = world.source.list_customers(None, 50).items[3]
    world.source_world.http.put(
        f"/_sandbox/tenants/{TENANT}/customers/{changed.id}", json={"display_name": "Changed Since Plan"}
    ).raise_for_status()
    following = replace(
        world.context(),
        config=world.config(TENANT, world.now()).model_copy(update={"plan_id": summary.plan_id}),
        plans=PlanRepository(),
    )

    tally = sync_customer_page(following, CUSTOMERS)

    assert [(s.source_id, s.code) for s in tally.skipped_reasons] == [(changed.id, SkipReason.PLAN_CHANGED)]
    assert links.get(TENANT, "Customer", changed.id) is None
    assert tally.created == 11


def test_given_qbo_items_share_a_products_sku_when_one_is_confirmed_and_one_skipped_then_runs_follow(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    default_product = "prd_default"
    world = World(qbo, source, links, source_defaults={"unmatched_qbo_item_product_id": default_product})
    confirmed_product, skipped_product = [p for p in world.source.list_products(None, 50).items if p.sku][:2]
    income = str(world.client.query_all("Account", "AccountType = 'Income'")[0]["Id"])
    pair = [world.qbo_item(f"Legacy A {n}", str(confirmed_product.sku), income) for n in (1, 2)]
    for n in (1, 2):
        world.qbo_item(f"Legacy B {n}", str(skipped_product.sku), income)
    # An earlier run linked the first item to the default product (the unmatched-item rule).
    links.put(
        new_link(
            TENANT,
            "Item",
            unmatched_item_source_key(default_product, str(pair[0]["Id"])),
            1,
            pair[0],
            "matched",
            world.now(),
        )
    )
    # The admin already invoices this product's income account as the second item.
    world.frozen = world.frozen.model_copy(
        update={"income_accounts": {str(confirmed_product.income_account): str(pair[1]["Id"])}}
    )
    service = SuggestionService(world.suggestions, world.now)

    world.run()

    listed = {s.source_id: s for s in service.list(TENANT).items if s.entity == "Item"}
    assert set(listed) == {confirmed_product.id, skipped_product.id}
    assert [c.reasons for c in listed[confirmed_product.id].candidates] == [
        ["link", "exact_sku"],
        ["existing_mapping", "exact_sku"],
    ]
    assert links.get(TENANT, "Item", confirmed_product.id) is None, "nothing linked until decided"
    assert links.get(TENANT, "Item", skipped_product.id) is None

    service.decide(
        TENANT,
        "Item",
        confirmed_product.id,
        SuggestionDecision(action="confirm", qbo_id=str(pair[1]["Id"])),
        "admin-1",
    )
    service.decide(TENANT, "Item", skipped_product.id, SuggestionDecision(action="skip"), "admin-1")
    plan = world.planner.plan(TENANT, "admin-1")
    world.run()
    world.run()  # decisions are remembered: a later run changes nothing

    confirmed_link = links.get(TENANT, "Item", confirmed_product.id)
    assert confirmed_link is not None and confirmed_link.qbo_id == str(pair[1]["Id"])
    assert links.get(TENANT, "Item", skipped_product.id) is None
    planned = {e.source_id: e for e in PlanRepository().all_entries(TENANT, plan.plan_id, "Item")}
    assert planned[confirmed_product.id].action is PlanAction.MATCH
    assert planned[confirmed_product.id].qbo_id == confirmed_link.qbo_id
    assert planned[skipped_product.id].reason_code == SkipReason.SKIPPED_BY_ADMIN
    assert len(world.client.query_all("Item", f"Sku = '{skipped_product.sku}'")) == 2, "nothing created"


def test_given_a_products_sku_is_on_one_qbo_item_when_planned_and_run_then_it_is_matched_by_sku(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links)
    product = next(p for p in world.source.list_products(None, 50).items if p.sku)
    income = str(world.client.query_all("Account", "AccountType = 'Income'")[0]["Id"])
    legacy = world.qbo_item("Named Otherwise", str(product.sku), income)

    plan = world.planner.plan(TENANT, "admin-1")
    world.run()

    entry = next(
        e for e in PlanRepository().all_entries(TENANT, plan.plan_id, "Item") if e.source_id == product.id
    )
    assert entry.action is PlanAction.MATCH and entry.reason == "a QBO item has its SKU"
    link = links.get(TENANT, "Item", product.id)
    assert link is not None and link.qbo_id == entry.qbo_id == str(legacy["Id"])


class Launcher:
    """Step Functions as the planner sees it: records the executions it starts, or refuses them."""

    def __init__(self, refuse: bool = False) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse

    def start(self, name: str, execution_input: Mapping[str, Any]) -> str:
        if self.refuse:
            raise ExecutionStartFailed("the dry run could not be started; try again")
        self.started.append((name, dict(execution_input)))
        return f"arn:aws:states:us-east-1:123456789012:execution:qbosync-dry-run-unit:{name}"

    def status(self, execution_arn: str) -> str:
        return "RUNNING"


class Connected:
    def get(self, tenant_id: str) -> Connection:
        return Connection(tenant_id=tenant_id, realm_id="1", connected_by="a", connected_at=datetime.now(UTC))


def _started_planner(world: World, launcher: Launcher) -> InitialSyncPlanner:
    deps = replace(world.deps, connections=Connected())
    return InitialSyncPlanner(deps, page_size=50, config_for=world.config, executions=launcher)


def test_given_a_dry_run_started_when_its_tasks_run_with_a_page_retried_then_the_plan_is_ready_and_whole(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links)
    in_process = world.planner.plan(TENANT, "admin-1")
    launcher = Launcher()
    planner = _started_planner(world, launcher)
    started = planner.start(TENANT, "admin-1")
    assert started.status == "running" and launcher.started == [
        (started.plan_id, {"tenant_id": TENANT, "plan_id": started.plan_id})
    ]
    ids = {"tenant_id": TENANT, "plan_id": started.plan_id}

    prepared = plan_prepare(PlanPrepareEvent(task="plan_prepare", page_size=50, **ids), planner, world.deps)
    for page in prepared.customers:
        plan_page(
            PlanPageEvent(task="plan_customer_page", config=prepared.config, page=page, **ids), world.deps
        )
    for page in prepared.products:
        plan_page(
            PlanPageEvent(task="plan_product_page", config=prepared.config, page=page, **ids), world.deps
        )
    retried = PlanPageEvent(
        task="plan_customer_page", config=prepared.config, page=prepared.customers[0], **ids
    )
    plan_page(retried, world.deps)  # a retry of a page that had succeeded
    plan_after_pages_step(
        PlanAfterPagesEvent(task="plan_after_pages", config=prepared.config, **ids), world.deps
    )
    plan_finish(PlanFinishEvent(task="plan_finish", **ids), world.deps)

    ready = planner.ready(TENANT, started.plan_id)
    assert (ready.counts, ready.qbo_reads, ready.entries, ready.reasons) == (
        in_process.counts,
        in_process.qbo_reads,
        in_process.entries,
        in_process.reasons,
    )
    by_reason: dict[str, dict[str, int]] = {}
    for found in ready.reasons:
        actions = by_reason.setdefault(found.entity, {})
        actions[found.action.value] = actions.get(found.action.value, 0) + found.count
    assert by_reason == ready.counts, "every record counted under its reason code"
    made = {(e.entity, e.source_id): e for e in planner.all_entries(TENANT, started.plan_id)}
    expected = {(e.entity, e.source_id): e for e in planner.all_entries(TENANT, in_process.plan_id)}
    assert made.keys() == expected.keys()
    assert all(made[key].same_outcome(expected[key]) for key in made)
    with pytest.raises(BulkSyncPageRejected):
        plan_page(retried, world.deps)  # a ready plan is never changed by a late task
    assert plan_finish(PlanFinishEvent(task="plan_finish", **ids), world.deps)["entries"] == ready.entries
    late = StepFunctionsError.model_validate({"Error": "States.Timeout", "Cause": "the answer was lost"})
    plan_fail(PlanFailEvent(task="plan_fail", error=late, **ids), planner)
    assert planner.ready(TENANT, started.plan_id) == ready, "a retried finish or a late error keeps it"


def test_given_the_execution_cannot_start_when_a_dry_run_starts_then_the_plan_is_failed_with_why(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links)
    planner = _started_planner(world, Launcher(refuse=True))

    with pytest.raises(ExecutionStartFailed):
        planner.start(TENANT, "admin-1")

    [summary] = [
        PlanSummary.model_validate_json(item["document"])
        for item in MainTable().query_all(tenant_pk(TENANT), "PLAN#")
    ]
    assert summary.status == "failed" and summary.failure == "the dry run's execution could not be started"
    with pytest.raises(PlanNotReady):
        planner.recheck(TENANT, summary.plan_id)


def test_given_an_open_suggestion_when_the_qbo_to_source_step_runs_then_its_candidates_wait_with_it(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(
        qbo,
        source,
        links,
        customer_matching="email",
        sync=SyncToggles(invoices=False, payments=False, credit_notes=False, qbo_to_source_customers=True),
        source_defaults={"new_customer_bill_profile_id": "BP-STD-EMAIL"},
    )
    waiting = next(c for c in world.source.list_customers(None, 50).items if c.email)
    pair = [world.qbo_customer(f"Shared A {n}", str(waiting.email)) for n in (1, 2)]
    source_customers = len(world.source_world.customers(TENANT))

    plan = world.planner.plan(TENANT, "admin-1")
    world.run()
    tally = customers_to_source(world.context())

    planned = {e.source_id: e for e in PlanRepository().all_entries(TENANT, plan.plan_id, "qbo_customers")}
    held = {str(row["Id"]) for row in pair}
    assert {qbo_id: planned[qbo_id].action for qbo_id in held} == dict.fromkeys(held, PlanAction.SKIP)
    assert all(planned[qbo_id].reason_code == SkipReason.AMBIGUOUS_MATCH for qbo_id in held)
    assert tally is not None and {s.source_id for s in tally.skipped_reasons} == held
    created_in_source = [e for e in planned.values() if e.action is PlanAction.CREATE]
    assert len(world.source_world.customers(TENANT)) == source_customers + len(created_in_source)
    assert not {e.qbo_id for e in created_in_source} & held, "nothing is created for a waiting candidate"


def _recheck_run(world: World, plan_id: str, page_size: int) -> str:
    """The run from the plan re-checks it as its state machine does, page by page (a page retried)."""
    started = world.now()
    run = world.deps.runs.start(
        SyncRun(
            run_id="run-from-plan",
            tenant_id=TENANT,
            started_at=started,
            started_by="admin-1",
            plan_id=plan_id,
        )
    )
    config = world.config(TENANT, started).model_copy(update={"plan_id": plan_id, "page_size": page_size})
    ids = {"tenant_id": TENANT, "run_id": run.run_id}
    pages = page_descriptors("customers", world.source.list_customers, page_size) + page_descriptors(
        "products", world.source.list_products, page_size
    )
    for page in pages:
        task = "recheck_customer_page" if page.entity == "customers" else "recheck_product_page"
        recheck_page(RecheckPageEvent(task=task, config=config, page=page, **ids), world.deps)
    retried = RecheckPageEvent(task="recheck_customer_page", config=config, page=pages[0], **ids)
    recheck_page(retried, world.deps)
    recheck_after_pages(RecheckAfterPagesEvent(task="recheck_after_pages", config=config, **ids), world.deps)
    recheck_finish(RecheckFinishEvent(task="recheck_finish", config=config, **ids), world.deps)
    return run.run_id


def test_given_a_plan_of_several_pages_when_the_run_rechecks_it_unchanged_then_it_goes_on_reads_counted(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links)
    world.planner = InitialSyncPlanner(world.deps, page_size=5, config_for=world.config)
    summary = world.planner.plan(TENANT, "admin-1")

    run_id = _recheck_run(world, summary.plan_id, page_size=5)

    run = world.deps.runs.get(TENANT, run_id)
    assert run is not None and run.phase == "customers", "the re-check let the run go on to its pages"
    assert run.qbo_reads == summary.dry_run_reads, "each re-checked page's reads counted once"
    assert links.list(TENANT, "Customer").items == [], "the re-check writes nothing"


def test_given_eleven_customers_changed_and_one_gone_when_the_run_rechecks_then_it_stops_naming_the_first_ten(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    world = World(qbo, source, links)
    world.planner = InitialSyncPlanner(world.deps, page_size=5, config_for=world.config)
    summary = world.planner.plan(TENANT, "admin-1")
    customers = sorted(c.id for c in world.source.list_customers(None, 50).items)
    for customer_id in customers[:11]:
        world.source_world.http.put(
            f"/_sandbox/tenants/{TENANT}/customers/{customer_id}",
            json={"display_name": f"Renamed {customer_id}"},
        ).raise_for_status()
    world.source_world.http.delete(f"/_sandbox/tenants/{TENANT}/customers/{customers[11]}").raise_for_status()

    with pytest.raises(BulkSyncPlanStale) as stale:
        _recheck_run(world, summary.plan_id, page_size=5)

    reason = str(stale.value)
    assert reason.startswith(f"plan_stale: 12 record(s) changed since plan {summary.plan_id}")
    assert reason.endswith(": " + ", ".join(f"Customer {c}" for c in customers[:10]))
    assert links.list(TENANT, "Customer").items == [], "nothing was written"

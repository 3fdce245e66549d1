"""The read budget squeezed: reconciliation slows, then stops; pushes go on; nothing is lost (the skipped
backstop runs once the month's budget resets); the state is visible in the API all along.

Real collaborators on moto and both sandboxes; the clock is injected (the reconciler's and the budget's
move together), and the other tenants' reads are added to the shared counter directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.api.app import lambda_handler as api_handler
from qbosync.api.dependencies import ApiDependencies
from qbosync.qbo.client import QboClient
from qbosync.qbo.read_budget import ReadBudget, ReadBudgetPolicy, ReadPurpose, TenantReads
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.config import AuditRepository, MappingRepository, SettingsRepository
from qbosync.store.connections import ConnectionRepository
from qbosync.store.events import EventRepository
from qbosync.store.ledger import WriteLedger
from qbosync.store.links import LinkRepository
from qbosync.store.queues import PushQueue
from qbosync.store.read_budget import DynamoReadBudgetStore
from qbosync.store.reconcile_signals import GapReason, ReconcileSignalRepository
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.sync import wiring
from qbosync.sync.backstop import DueReason, ReconcileCadence
from qbosync.sync.configuration import ConfigurationService, QboDefaults
from qbosync.sync.pull.service import PullService
from qbosync.sync.push.customers import CustomerPush
from qbosync.sync.push.service import PushDependencies, PushService
from qbosync.sync.reconcile import QBO_CHECKPOINT, Reconciler
from qbosync.sync.records.messages import PushMessage
from qbosync.sync.retry.parked import ParkedRelease
from tests.support.admin_api import http_event
from tests.support.lambda_context import LambdaContextStub
from tests.support.pull_world import (  # noqa: F401 (fixture)
    QBO_BASE,
    TENANT,
    PullWorld,
    pull_world_fixture,
)

ALLOWANCE, RESERVE = 2_000, 200
# The budget's month is counted from a fixed day, so the test means the same on any calendar date.
BUDGET_START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class SqueezeWorld:
    """One tenant's flows metered by one read budget, on a clock the test moves."""

    def __init__(self, world: PullWorld) -> None:
        self.world = world
        self.started = datetime.now(UTC)
        self.now = self.started
        self.store = DynamoReadBudgetStore()
        self.budget = ReadBudget(
            ReadBudgetPolicy(ALLOWANCE, RESERVE), self.store, clock=self.budget_epoch, flush_every=1
        )
        self.signals = ReconcileSignalRepository()
        self.cadence = ReconcileCadence(
            signals=self.signals,
            budget=self.budget,
            backstop_interval=timedelta(hours=24),
            low_budget_factor=4,
            source_max_backoff=timedelta(hours=4),
            events=EventRepository(),
        )
        TenantRepository().register(Tenant(tenant_id=TENANT, name="Acme"))

    def clock(self) -> datetime:
        return self.now

    def budget_epoch(self) -> float:
        return (BUDGET_START + (self.now - self.started)).timestamp()

    def month(self) -> str:
        return self.budget.month()

    def qbo_for(self, purpose: ReadPurpose) -> Callable[[str], QboClient]:
        def client(tenant_id: str) -> QboClient:
            return QboClient(
                self.world.realm_id,
                self.world.vault,
                None,
                QBO_BASE,
                http=self.world.qbo_http,
                sleep=lambda _: None,
                reads=TenantReads(self.budget, tenant_id, purpose),
            )

        return client

    def reconciler(self) -> Reconciler:
        links = LinkRepository()
        pull = PullService(
            qbo_for=self.qbo_for(ReadPurpose.PULL),
            source_for=self.world.source,
            settings_for=lambda _: self.world.settings,
            payment_methods_for=wiring.payment_method_rows,
            links=links,
            events=EventRepository(),
            push_queue=PushQueue(),
        )
        return Reconciler(
            pull=pull,
            customers=CustomerPush(
                qbo_for=self.qbo_for(ReadPurpose.PUSH_LOOKUP), source_for=self.world.source, links=links
            ),
            qbo_for=self.qbo_for(ReadPurpose.RECONCILE),
            source_for=self.world.source,
            settings_for=lambda _: self.world.settings,
            connections=ConnectionRepository(),
            checkpoints=CheckpointRepository(),
            links=links,
            push_queue=PushQueue(),
            clock=self.clock,
            overlap=timedelta(0),
            cadence=self.cadence,
        )

    def push_invoice(self, index: int) -> str:
        """The push worker applying a source invoice's webhook; its status (``done`` when it landed)."""
        push = PushService(
            PushDependencies(
                events=EventRepository(),
                links=LinkRepository(),
                configuration=ConfigurationService(
                    SettingsRepository(), MappingRepository(), AuditRepository(), self.clock
                ),
                qbo_for=self.qbo_for(ReadPurpose.PUSH_LOOKUP),
                source_for=self.world.source,
                parked=ParkedRelease(EventRepository(), wiring.event_requeue()),
                clock=self.clock,
                ledger=WriteLedger(),
            )
        )
        invoice = self.world.source().list_invoices().items[index]
        outcome = push.apply(
            PushMessage(
                event_id=f"evt-invoice-{invoice.id}",
                tenant_id=TENANT,
                kind="invoice",
                action="created",
                source_id=invoice.id,
                source_version=invoice.version,
                occurred_at=self.now,
                received_at=self.now,
            )
        )
        return outcome.status

    def others_read_until(self, remaining: int) -> None:
        """Other tenants' reads bring the app's remaining reads this month down to ``remaining``."""
        used = self.store.app_usage(self.month()).used
        self.store.record(self.month(), "others", {"pull": ALLOWANCE - remaining - used}, 0)

    def api(self, method: str, path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        deps = ApiDependencies(
            connections=ConnectionRepository(),
            qbo_reader_for=self.qbo_for(ReadPurpose.ADMIN),
            read_budget=lambda: ReadBudget(
                ReadBudgetPolicy(ALLOWANCE, RESERVE), self.store, clock=self.budget_epoch
            ),
            reconcile_cadence=lambda: self.cadence,
            reconcile_signals=self.signals,
            clock=self.clock,
        )
        event = http_event(method, path, tenants=TENANT, query=query)
        reply = api_handler(event, LambdaContextStub(), deps=deps)
        return reply["statusCode"], json.loads(reply["body"])


def _push_ready(world: PullWorld) -> None:
    item_id = world.service_item_id()
    world.settings = world.settings.model_copy(
        update={
            "qbo_defaults": QboDefaults(
                unmatched_one_time_item_id=item_id, unmatched_recurring_item_id=item_id
            )
        }
    )
    world.store_settings()


def test_given_the_budget_squeezed_when_days_pass_then_reconcile_slows_stops_and_catches_up_pushes_go_on(
    pull_world: PullWorld,
) -> None:
    squeeze = SqueezeWorld(pull_world)
    _push_ready(pull_world)
    pull_world.hook.drop_all = True  # every QBO webhook is lost: only the backstop can bring changes back

    # Day 0, budget normal: the first backstop runs.
    first = squeeze.reconciler().reconcile_tenant(TENANT)
    assert (first.qbo_due, first.qbo_mode) == (DueReason.FIRST_RUN, "cdc")
    last_backstop = CheckpointRepository().get(TENANT, QBO_CHECKPOINT)

    # Day 1, budget low: the daily backstop is slowed (every 4 days); a push goes on.
    squeeze.others_read_until(remaining=2 * RESERVE - 10)
    squeeze.now += timedelta(hours=24)
    slowed = squeeze.reconciler().reconcile_tenant(TENANT)
    assert (slowed.qbo_due, slowed.qbo_next_due_at) == (DueReason.NOT_DUE, last_backstop + timedelta(days=4))  # type: ignore[operator]
    assert squeeze.push_invoice(0) == "done"
    status, app = squeeze.api("GET", "/budget")
    assert (status, app["level"]) == (200, "low")

    # An accountant adds a customer in QBO (QBO's clock past the last backstop's start); its webhook is lost.
    pull_world.qbo_http.post("/_sandbox/clock", json={"advance_seconds": 5}).raise_for_status()
    missed = pull_world.qbo_customer(DisplayName="Added While Squeezed")
    pull_world.deliver_qbo_webhooks()

    # Day 4, budget exhausted: the backstop is due but stopped; pushes still go on.
    squeeze.others_read_until(remaining=RESERVE - 10)
    squeeze.now += timedelta(days=3)
    stopped = squeeze.reconciler().reconcile_tenant(TENANT)
    assert stopped.qbo_due is DueReason.BUDGET_STOPPED
    assert CheckpointRepository().get(TENANT, QBO_CHECKPOINT) == last_backstop
    assert pull_world.link_of_qbo("Customer", missed["Id"]) is None

    status, app = squeeze.api("GET", "/budget")
    assert (status, app["level"], app["allowance"]) == (200, "exhausted", ALLOWANCE)
    status, tenant = squeeze.api("GET", f"/tenants/{TENANT}/read-budget")
    assert status == 200
    assert tenant["read_budget"]["level"] == "exhausted"
    assert tenant["read_budget"]["reconcile_allowed"] is False
    assert tenant["read_budget"]["by_purpose"]["push_lookup"] > 0
    assert (tenant["reconcile"]["qbo_due"], tenant["reconcile"]["deferred_reason"]) == (
        "budget_stopped",
        "budget_stopped",
    )
    # Admin reads go on into the reserve, then stop halfway through it; pushes still go on.
    status, _accounts = squeeze.api("GET", f"/tenants/{TENANT}/qbo/reference/accounts", {"refresh": "true"})
    assert status == 200
    squeeze.others_read_until(remaining=RESERVE // 2 - 10)
    squeeze.now += timedelta(minutes=1)  # a process trusts the app total it last saw for a minute
    status, error = squeeze.api("GET", f"/tenants/{TENANT}/qbo/reference/accounts", {"refresh": "true"})
    assert (status, error["error"]["code"]) == (429, "read_budget_exhausted")
    assert squeeze.push_invoice(1) == "done"
    status, error = squeeze.api("POST", f"/tenants/{TENANT}/reconcile")
    assert status == 202, error

    # The next month: the budget resets, the held-back backstop runs and brings the missed customer.
    squeeze.now += datetime(2027, 1, 1, 1, 0, tzinfo=UTC) - datetime.fromtimestamp(
        squeeze.budget_epoch(), UTC
    )
    caught_up = squeeze.reconciler().reconcile_tenant(TENANT)
    assert caught_up.qbo_due is DueReason.ON_DEMAND
    assert pull_world.link_of_qbo("Customer", missed["Id"]) is not None
    status, tenant = squeeze.api("GET", f"/tenants/{TENANT}/read-budget")
    assert (tenant["read_budget"]["month"], tenant["read_budget"]["level"]) == ("2027-01", "normal")
    assert tenant["reconcile"]["deferred_at"] is None


def test_given_a_pushs_webhook_echo_lost_when_the_next_tick_comes_then_the_backstop_runs_the_same_day(
    pull_world: PullWorld,
) -> None:
    squeeze = SqueezeWorld(pull_world)
    _push_ready(pull_world)
    pull_world.hook.drop_all = True
    squeeze.reconciler().reconcile_tenant(TENANT)
    pull_world.qbo_http.post("/_sandbox/clock", json={"advance_seconds": 5}).raise_for_status()

    squeeze.now += timedelta(minutes=30)
    assert squeeze.push_invoice(0) == "done"
    missed = pull_world.qbo_customer(DisplayName="Added Next To A Push")
    pull_world.deliver_qbo_webhooks()  # the push's echo and the customer's webhook are both lost
    squeeze.now += timedelta(minutes=15)
    report = squeeze.reconciler().reconcile_tenant(TENANT)

    assert report.qbo_due is DueReason.GAP
    assert pull_world.link_of_qbo("Customer", missed["Id"]) is not None
    status, tenant = squeeze.api("GET", f"/tenants/{TENANT}/read-budget")
    assert (status, tenant["reconcile"]["gap_reason"]) == (200, "webhooks_quiet")


def test_given_a_refused_webhook_for_the_tenant_when_asked_then_the_api_names_the_gap_and_when_cdc_reads(
    pull_world: PullWorld,
) -> None:
    squeeze = SqueezeWorld(pull_world)
    squeeze.reconciler().reconcile_tenant(TENANT)
    squeeze.now += timedelta(minutes=10)
    squeeze.signals.mark_gap(TENANT, GapReason.UNVERIFIED_WEBHOOK, squeeze.now)
    squeeze.now += timedelta(minutes=5)

    status, tenant = squeeze.api("GET", f"/tenants/{TENANT}/read-budget")
    held = squeeze.reconciler().reconcile_tenant(TENANT)
    squeeze.now = squeeze.started + timedelta(hours=1)
    ran = squeeze.reconciler().reconcile_tenant(TENANT)

    assert (status, tenant["reconcile"]["webhook_gap_reason"], tenant["reconcile"]["qbo_due"]) == (
        200,
        "unverified_webhook",
        "gap_waiting",  # one early CDC an hour at most: the last one ran 15 minutes ago
    )
    assert (held.qbo_due, ran.qbo_due) == (DueReason.GAP_WAITING, DueReason.GAP)

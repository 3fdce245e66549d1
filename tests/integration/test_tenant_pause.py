"""Pausing a tenant's sync holds its pushes and pulls (webhooks still accepted) and the resume releases
them, each landing once; the admin API, the operator CLI and the connection status show the pause."""

# ruff: noqa: F811  (the fixtures are imported from the support modules)

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from qbosync.clock import utc_now
from qbosync.operator.__main__ import run
from qbosync.operator.fleet import FleetOperator
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.events import PAUSED_KEY, EventRepository, ReasonCode
from qbosync.store.pull_queue import PullQueue
from qbosync.store.queues import PushQueue
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.sync.retry.parked import ParkedRelease
from qbosync.sync.retry.pause import TenantPause
from qbosync.sync.retry.requeue import EventRequeue
from qbosync.sync.retry.schedule import EventRetrySchedule
from tests.support.admin_api import ADMIN, TENANT_A, AdminApi, admin_api  # noqa: F401 (fixture)
from tests.support.connection_world import ConnectionWorld
from tests.support.connection_world import world as connection_world  # noqa: F401 (fixture)
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)
from tests.support.push_world import PushWorld, push_world


def _pause_service(push_queue: PushQueue | None = None) -> TenantPause:
    requeue = EventRequeue(push_queue=push_queue or PushQueue(), pull_queue=PullQueue())
    return TenantPause(TenantRepository(), ParkedRelease(EventRepository(), requeue), utc_now)


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure()
        yield built


def test_given_a_paused_tenant_when_a_webhook_arrives_and_the_sync_resumes_then_the_invoice_lands_once(
    world: PushWorld,
) -> None:
    pause = _pause_service(PushQueue(queue_url=world.queue_url))
    pause.pause(world.tenant_id, "ops@vendor")
    seeded = {row["Id"] for row in world.qbo_rows("Invoice")}
    invoice = world.new_invoice(lines=1)

    deliveries = world.deliver_all(copies=2)  # the source sends it twice
    world.drain()

    held = world.events.get(world.tenant_id, deliveries[0].event_id)
    assert [delivery.status for delivery in deliveries] == [202, 202]  # webhooks are still accepted
    assert held is not None and (held.status, held.reason_code) == ("parked", ReasonCode.TENANT_PAUSED)
    assert {row["Id"] for row in world.qbo_rows("Invoice")} == seeded

    resumed = pause.resume(world.tenant_id, "ops@vendor")
    world.drain()

    done = world.events.get(world.tenant_id, deliveries[0].event_id)
    link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert (resumed.sync_paused, resumed.released) == (False, 1)
    assert link is not None
    assert {row["Id"] for row in world.qbo_rows("Invoice")} - seeded == {link.qbo_id}
    assert done is not None and done.status == "done"
    assert EventRepository().parked_on(world.tenant_id, PAUSED_KEY) == []


def test_given_a_paused_tenant_when_the_retry_schedule_runs_then_held_events_wait_without_using_attempts(
    world: PushWorld,
) -> None:
    _pause_service().pause(world.tenant_id, "ops@vendor")
    world.new_invoice(lines=1)
    [delivery] = world.deliver_all()
    world.drain()
    connections = ConnectionRepository()
    connections.record_connected(
        Connection(
            tenant_id=world.tenant_id, realm_id=world.realm_id, connected_by=ADMIN, connected_at=utc_now()
        )
    )
    schedule = EventRetrySchedule(
        events=EventRepository(),
        connections=connections,
        requeue=EventRequeue(push_queue=PushQueue(queue_url=world.queue_url), pull_queue=PullQueue()),
        paused=TenantRepository().is_paused,
        base_delay=timedelta(0),
    )
    before = world.events.get(world.tenant_id, delivery.event_id)

    report = schedule.run()

    after = world.events.get(world.tenant_id, delivery.event_id)
    assert (report.waiting, report.requeued_push) == (1, 0)
    assert world.queued() == 0
    assert before is not None and after is not None and after.attempts == before.attempts


def test_given_a_paused_tenant_when_a_qbo_customer_is_created_then_it_reaches_the_source_once_after_resume(
    pull_world: PullWorld,
) -> None:
    TenantRepository().register(Tenant(tenant_id=TENANT, name="Acme"))
    _pause_service().pause(TENANT, "ops@vendor")
    created = pull_world.qbo_customer(DisplayName="Held While Paused Ltd")
    creations = pull_world.source_creations()

    pull_world.deliver_qbo_webhooks()
    assert pull_world.run_pull_worker() == []

    [held] = pull_world.events("parked")
    assert held.reason_code is ReasonCode.TENANT_PAUSED
    assert pull_world.source_creations() == creations
    assert pull_world.link_of_qbo("Customer", created["Id"]) is None

    released = _pause_service().resume(TENANT, "ops@vendor").released
    assert pull_world.run_pull_worker() == []

    assert released == 1
    assert pull_world.source_creations() == creations + 1
    assert pull_world.link_of_qbo("Customer", created["Id"]) is not None


def test_given_a_paused_tenant_when_reconciled_then_nothing_is_read_and_the_checkpoints_stay(
    pull_world: PullWorld,
) -> None:
    TenantRepository().register(Tenant(tenant_id=TENANT, name="Acme"))
    _pause_service().pause(TENANT, "ops@vendor")
    pull_world.qbo_customer(DisplayName="Changed While Paused Ltd")
    creations = pull_world.source_creations()

    report = pull_world.reconciler().reconcile_tenant(TENANT)

    assert report.paused
    assert pull_world.source_creations() == creations
    assert CheckpointRepository().get(TENANT, "qbo") is None


def test_given_an_admin_when_pausing_and_resuming_through_the_api_then_the_state_follows(
    admin_api: AdminApi,
) -> None:
    paused = admin_api.call("POST", f"/tenants/{TENANT_A}/sync/pause")
    read = admin_api.call("GET", f"/tenants/{TENANT_A}/sync/pause")
    resumed = admin_api.call("POST", f"/tenants/{TENANT_A}/sync/resume")

    assert paused[0] == 200 and (paused[2]["sync_paused"], paused[2]["paused_by"]) == (True, ADMIN)
    assert read[2]["sync_paused"] is True
    assert resumed[0] == 200 and (resumed[2]["sync_paused"], resumed[2]["released"]) == (False, 0)


def test_given_another_tenants_admin_when_pausing_then_403_and_nothing_changes(admin_api: AdminApi) -> None:
    status, _headers, body = admin_api.call("POST", f"/tenants/{TENANT_A}/sync/pause", tenants="globex-msp")

    assert status == 403, body
    assert not TenantRepository().is_paused(TENANT_A)


def test_given_a_paused_tenant_when_its_connection_is_read_then_the_status_shows_who_paused_it(
    connection_world: ConnectionWorld,
) -> None:
    connection_world.connect()
    TenantRepository().pause("acme-law", "ops@vendor", utc_now())

    body = connection_world.call("api_connection_get.json").body

    assert (body["status"], body["sync_paused"], body["paused_by"]) == ("connected", True, "ops@vendor")


def test_given_an_operator_when_pausing_and_resuming_through_the_cli_then_the_fleet_shows_it(
    main_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    TenantRepository().register(Tenant(tenant_id="acme", name="Acme PSA"))
    operator = FleetOperator(pause_service=_pause_service)

    assert run(["pause", "acme", "--operator", "ops@vendor"], operator=operator, stdin=io.StringIO()) == 0
    paused = json.loads(capsys.readouterr().out)
    [listed] = operator.list_fleet()
    assert run(["resume", "acme", "--operator", "ops@vendor"], operator=operator, stdin=io.StringIO()) == 0
    resumed = json.loads(capsys.readouterr().out)

    assert (paused["sync_paused"], paused["paused_by"]) == (True, "ops@vendor")
    assert listed.paused_by == "ops@vendor" and listed.paused_at is not None
    assert (resumed["sync_paused"], resumed["released"]) == (False, 0)
    assert operator.list_fleet()[0].paused_at is None

"""The fan-out schedules in the started runtime: the ticker fires the dispatcher, the SQS poller feeds the
scheduled worker, exactly as EventBridge Scheduler and the event source mapping do in AWS."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import boto3

from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.table import MainTable
from tests.e2e.conftest import RunningRuntime

TENANT = "e2e-fanout"
WAIT_SECONDS = 120  # the runtime's schedules run 60 times faster: retry every 10 s, reconcile every 15 s


def test_given_a_connected_tenant_when_the_schedules_fire_then_its_jobs_reach_the_worker_through_the_queue(
    runtime: RunningRuntime,
) -> None:
    client = boto3.client(
        "dynamodb",
        endpoint_url=runtime.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = MainTable(client, runtime.ready["tables"]["MainTable"])
    connection = Connection(
        tenant_id=TENANT, realm_id="4620816365000000001", connected_by="e2e", connected_at=datetime.now(UTC)
    )
    table.put(ConnectionRepository.item_of(connection))

    claims: list[dict[str, object]] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        claims = list(table.query_all(f"TENANT#{TENANT}", "JOB#"))
        jobs = {str(claim["sk"]).split("#")[1] for claim in claims if claim.get("state") == "done"}
        if {"retry", "reconcile"} <= jobs:
            break
        time.sleep(1)

    done = [str(claim["sk"]) for claim in claims if claim.get("state") == "done"]
    assert any(sk.startswith("JOB#retry#") for sk in done), claims
    assert any(sk.startswith("JOB#reconcile#") for sk in done), claims

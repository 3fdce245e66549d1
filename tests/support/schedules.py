"""Scheduled work for tests: SQS events as the scheduled worker's event source delivers them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from qbosync.store.connections import ConnectionRepository
from qbosync.store.job_claims import JobClaims
from qbosync.sync.fanout import ScheduledJob, ScheduledWork, ScheduledWorker, TenantJob, slot_of

SLOT = slot_of(datetime(2026, 11, 22, 4, 0, tzinfo=UTC))


def work_event(*works: ScheduledWork) -> dict[str, Any]:
    """An SQS event carrying ``works``, one record each."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "receipt",
                "body": work.model_dump_json(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:qbosync-test-ScheduledWorkQueue",
                "awsRegion": "us-east-1",
            }
            for work in works
        ]
    }


def work(job: ScheduledJob, tenant_id: str, slot: str = SLOT) -> ScheduledWork:
    return ScheduledWork(job=job, tenant_id=tenant_id, slot=slot)


def worker(jobs: Mapping[ScheduledJob, TenantJob]) -> ScheduledWorker:
    """A worker over the moto table with the given per-tenant jobs."""
    return ScheduledWorker(jobs=jobs, claims=JobClaims(), connections=ConnectionRepository())

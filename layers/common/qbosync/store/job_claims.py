"""Claims on scheduled work: one run of a job for a tenant and schedule slot, whatever SQS delivers.

``TENANT#{t}`` / ``JOB#{job}#{slot}``: written before the work starts, with a lease. A second delivery
of the same message (SQS is at least once) or a second dispatch of the same slot finds the claim and
does nothing. A claim whose work failed is released, so SQS's retry runs it again; one whose worker
died mid-way expires with its lease and is taken over. Done claims expire by TTL after ``keep_for``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from qbosync.store.table import Condition, ConditionFailed, MainTable, tenant_pk

JOB_PREFIX = "JOB#"
DEFAULT_KEEP_FOR = timedelta(days=2)


class ClaimState(StrEnum):
    RUNNING = "running"
    DONE = "done"


def _job_sk(job: str, slot: str) -> str:
    return f"{JOB_PREFIX}{job}#{slot}"


class JobClaims:
    """Takes, completes and releases claims on (job, tenant, slot)."""

    def __init__(self, table: MainTable | None = None, keep_for: timedelta = DEFAULT_KEEP_FOR) -> None:
        self._table = table or MainTable()
        self._keep_for = keep_for

    def claim(self, tenant_id: str, job: str, slot: str, now: datetime, lease: timedelta) -> bool:
        """True when this caller may run the work: no claim yet, or a running one whose lease ran out."""
        try:
            self._table.put(
                {
                    "pk": tenant_pk(tenant_id),
                    "sk": _job_sk(job, slot),
                    "item_type": "job_claim",
                    "state": ClaimState.RUNNING.value,
                    "lease_until": (now + lease).timestamp(),
                    "expires_at": int((now + self._keep_for).timestamp()),
                },
                condition=Condition(
                    "attribute_not_exists(pk) OR (#state = :running AND lease_until < :now)",
                    names={"#state": "state"},
                    values={":running": ClaimState.RUNNING.value, ":now": now.timestamp()},
                ),
            )
        except ConditionFailed:
            return False
        return True

    def complete(self, tenant_id: str, job: str, slot: str) -> None:
        self._table.update(
            tenant_pk(tenant_id),
            _job_sk(job, slot),
            Condition("SET #state = :done REMOVE lease_until", {"#state": "state"}, {":done": "done"}),
        )

    def release(self, tenant_id: str, job: str, slot: str) -> None:
        """Give the work back (it failed): the queue's next delivery may claim it again."""
        self._table.delete(tenant_pk(tenant_id), _job_sk(job, slot))

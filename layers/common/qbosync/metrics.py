"""Counts an on-call engineer can alarm on, written as CloudWatch EMF through Powertools Metrics.

Dimensions are chosen for alarms: the flow, and for failures the reason code. Never the tenant: a
tenant dimension multiplies the custom-metric bill by the number of tenants, so the tenant goes in the
structured log line written next to each count. Handlers flush with ``@metrics.log_metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from qbosync.observability import METRICS_NAMESPACE, metrics

Flow = Literal["push", "pull"]


class Metric(StrEnum):
    PUSHED = "EventsPushed"
    """A source change applied to QBO (event done)."""
    PARKED = "EventsParked"
    """A payment or credit note waiting for its invoice."""
    FAILED = "EventsFailed"
    """An event failed; dimensions ``flow`` and ``reason_code``."""
    PULLED = "ChangesPulled"
    """A QBO change handled by the pull (webhook or reconciliation)."""
    DRIFT_FOUND = "DriftFound"
    """A pushed document no longer matches the source in QBO (reported or healed)."""
    STUCK_RETRIED = "StuckEventsRetried"
    """Events a dead worker left received, re-queued by the retry schedule."""
    QBO_THROTTLED = "QboThrottledAbsorbed"
    """A 429 from QBO, absorbed by the realm governor's backoff."""
    VARIANCE_FOUND = "VarianceFound"
    """A pushed document QBO totals differently from the source (``done_with_variance``)."""
    TOKEN_REFRESHES = "TokenRefreshes"  # noqa: S105 - a metric name, not a secret
    """Refresh-token grants asked of Intuit."""
    QBO_READS = "QboReads"
    """QBO reads drawn from the app's monthly read budget; dimension ``purpose``."""
    SYNCED_WITH_WARNINGS = "EventsSyncedWithWarnings"
    """A change applied where qbosync improvised; dimensions ``flow`` and ``warning_code`` (one count
    per distinct code on the event)."""
    SCHEDULED_WORK_SENT = "ScheduledWorkSent"
    """Per-tenant messages a schedule's dispatcher put on the scheduled work queue."""
    SCHEDULED_WORK_DUPLICATE = "ScheduledWorkDuplicate"
    """A delivery of scheduled work whose (job, tenant, slot) had already been claimed: nothing done."""
    RECONCILE_OVERDUE = "ReconcileOverdueTenants"
    """Connected tenants not reconciled within two intervals, counted at every reconcile dispatch."""
    RECONCILE_GAPS = "ReconcileGapsSignalled"
    """A suspected missed QBO change that makes a tenant's backstop CDC run early; dimension ``reason``
    (``store.reconcile_signals.GapReason``)."""


def count(metric: Metric, value: int = 1) -> None:
    """Add to a count (flushed with the handler's other metrics)."""
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def count_failure(flow: Flow, reason_code: str) -> None:
    """Count one failed event by flow and reason code (its own EMF record, for its dimensions)."""
    with single_metric(
        name=Metric.FAILED.value, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
    ) as metric:
        metric.add_dimension(name="flow", value=flow)
        metric.add_dimension(name="reason_code", value=reason_code)


def count_reads(purpose: str, reads: int) -> None:
    """Count QBO reads (metered by Intuit against the app's monthly budget) by purpose, never by tenant:
    per-tenant counts are in the read budget's store and ``GET /tenants/{t}/read-budget``."""
    with single_metric(
        name=Metric.QBO_READS.value, unit=MetricUnit.Count, value=reads, namespace=METRICS_NAMESPACE
    ) as metric:
        metric.add_dimension(name="purpose", value=purpose)


def count_warnings(flow: Flow, warning_codes: Iterable[str]) -> None:
    """Count one event synced with warnings, once per distinct warning code (dimensions flow, code)."""
    for code in sorted(set(warning_codes)):
        with single_metric(
            name=Metric.SYNCED_WITH_WARNINGS.value,
            unit=MetricUnit.Count,
            value=1,
            namespace=METRICS_NAMESPACE,
        ) as metric:
            metric.add_dimension(name="flow", value=flow)
            metric.add_dimension(name="warning_code", value=code)


def count_gap(reason: str) -> None:
    """Count one gap signal by its reason (the tenant goes in the log line next to it)."""
    with single_metric(
        name=Metric.RECONCILE_GAPS.value, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
    ) as metric:
        metric.add_dimension(name="reason", value=reason)

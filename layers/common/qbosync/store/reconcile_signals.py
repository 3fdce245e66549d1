"""What makes a tenant's reconciliation due sooner, or later: ``TENANT#{t}`` / ``RECONCILE#SIGNALS``.

- ``requested_at``: an admin asked for a reconciliation (``POST /tenants/{t}/reconcile``);
- ``gap_at`` / ``gap_reason``: something of qbosync's own suggests a webhook was missed;
- ``webhook_gap_at`` / ``webhook_gap_reason``: a webhook suggests it (``WEBHOOK_GAPS``). Kept apart because
  anyone can post a webhook: a flood of them is spaced out, and must not delay a gap qbosync found itself;
- ``source_idle_runs`` / ``source_next_at``: the source listing's backoff after runs that found nothing;
- ``deferred_at`` / ``deferred_reason``: the last time a due backstop was held back (the read budget).

A signal is consumed by the reconciliation that starts after it: the QBO checkpoint (the start of the last
successful run) moving past ``requested_at`` or ``gap_at`` is what clears it, so nothing is deleted here
and a signal raised during a run stays due for the next one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from qbosync.store.table import Condition, MainTable, tenant_pk

SIGNALS_SK = "RECONCILE#SIGNALS"


class GapReason(StrEnum):
    """Why qbosync suspects it missed a QBO change."""

    PULL_DEAD_LETTER = "pull_dead_letter"
    """A pull message failed on its last receive: SQS dead-letters it, so its change was not applied."""
    WEBHOOKS_QUIET = "webhooks_quiet"
    """qbosync wrote to QBO and no webhook (not even the write's echo) came back within the grace."""
    UNVERIFIED_WEBHOOK = "unverified_webhook"
    """A QBO webhook naming the tenant's realm failed its signature check: refused, so if Intuit sent it
    (a rotated verifier token, say) its changes were lost."""
    LATE_WEBHOOK = "late_webhook"
    """A verified webhook announced a change made long before it arrived: Intuit was retrying a failed
    delivery, and changes of that outage may never arrive."""


WEBHOOK_GAPS = frozenset({GapReason.UNVERIFIED_WEBHOOK, GapReason.LATE_WEBHOOK})
"""Gaps a webhook raises: they can come in floods (anyone can post a bad signature; Intuit's catch-up after
an outage makes every POST late)."""


class ReconcileSignals(BaseModel):
    requested_at: datetime | None = None
    gap_at: datetime | None = None
    gap_reason: GapReason | None = None
    webhook_gap_at: datetime | None = None
    webhook_gap_reason: GapReason | None = None
    source_idle_runs: int = 0
    source_next_at: datetime | None = None
    deferred_at: datetime | None = None
    deferred_reason: str | None = None

    def with_gap(self, reason: GapReason, at: datetime) -> ReconcileSignals:
        """These signals with a gap raised (in the webhook pair or qbosync's own, by its reason)."""
        fields = _gap_fields(reason)
        return self.model_copy(update={fields[0]: at, fields[1]: reason})

    def latest_gap(self) -> tuple[datetime | None, GapReason | None]:
        """The most recent gap of either kind, and its reason."""
        gaps = [(self.gap_at, self.gap_reason), (self.webhook_gap_at, self.webhook_gap_reason)]
        raised = [(at, reason) for at, reason in gaps if at is not None]
        return max(raised, key=lambda gap: gap[0]) if raised else (None, None)


def _gap_fields(reason: GapReason) -> tuple[str, str]:
    return ("webhook_gap_at", "webhook_gap_reason") if reason in WEBHOOK_GAPS else ("gap_at", "gap_reason")


def _iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


class ReconcileSignalRepository:
    """Reads and raises a tenant's reconciliation signals."""

    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def get(self, tenant_id: str) -> ReconcileSignals:
        item = self._table.get(tenant_pk(tenant_id), SIGNALS_SK, consistent=False) or {}
        reason, webhook_reason = item.get("gap_reason"), item.get("webhook_gap_reason")
        return ReconcileSignals(
            requested_at=_iso(item.get("requested_at")),
            gap_at=_iso(item.get("gap_at")),
            gap_reason=GapReason(reason) if reason else None,
            webhook_gap_at=_iso(item.get("webhook_gap_at")),
            webhook_gap_reason=GapReason(webhook_reason) if webhook_reason else None,
            source_idle_runs=int(item.get("source_idle_runs", 0)),
            source_next_at=_iso(item.get("source_next_at")),
            deferred_at=_iso(item.get("deferred_at")),
            deferred_reason=item.get("deferred_reason") or None,
        )

    def request(self, tenant_id: str, at: datetime) -> None:
        """An admin's on-demand reconciliation: due at the next scheduled run."""
        self._set(tenant_id, {"requested_at": at.isoformat()})

    def mark_gap(self, tenant_id: str, reason: GapReason, at: datetime) -> None:
        """A suspected missed webhook: the backstop CDC is due at the next scheduled run."""
        at_field, reason_field = _gap_fields(reason)
        self._set(tenant_id, {at_field: at.isoformat(), reason_field: reason.value})

    def source_ran(self, tenant_id: str, idle_runs: int, next_at: datetime | None) -> None:
        self._set(
            tenant_id,
            {"source_idle_runs": idle_runs, "source_next_at": next_at.isoformat() if next_at else ""},
        )

    def deferred(self, tenant_id: str, at: datetime | None, reason: str | None) -> None:
        """Record (or, with None, clear) that a due backstop was held back."""
        self._set(tenant_id, {"deferred_at": at.isoformat() if at else "", "deferred_reason": reason or ""})

    def _set(self, tenant_id: str, values: dict[str, Any]) -> None:
        names = {f"#f{index}": name for index, name in enumerate(values)}
        placeholders = {f":f{index}": value for index, value in enumerate(values.values())}
        assignments = ", ".join(f"#f{index} = :f{index}" for index in range(len(values)))
        self._table.update(
            tenant_pk(tenant_id),
            SIGNALS_SK,
            Condition(f"SET {assignments}, item_type = :type", names, {**placeholders, ":type": "signals"}),
        )

"""Reconcile Lambda (EventBridge schedule): CDC and source listings since the checkpoints, per tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.reconcile import Reconciler


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, reconciler: Reconciler | None = None
) -> dict[str, Any]:
    """Reconcile one tenant (``{"tenant_id": ...}``) or, for a plain schedule event, every connected one."""
    from qbosync.sync import wiring

    service = reconciler or wiring.reconciler()
    tenant_id = event.get("tenant_id") if isinstance(event, dict) else None
    reports = [service.reconcile_tenant(str(tenant_id))] if tenant_id else service.reconcile_all()
    return {"tenants": [report.model_dump(mode="json") for report in reports]}

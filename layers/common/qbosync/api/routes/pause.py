"""Pausing and resuming a tenant's sync: ``GET|POST /tenants/{tenant_id}/sync/pause`` and
``POST /tenants/{tenant_id}/sync/resume``.

While paused, webhooks are still accepted; pushes and pulls are parked with reason code ``tenant_paused``
and re-queued by the resume (``qbosync.sync.retry.pause``). Operators do the same with
``python -m qbosync.operator pause|resume``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.sync import wiring
from qbosync.sync.retry.pause import PauseState, TenantPause

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def pause_router(
    deps: ApiDependencies, pause: Callable[[], TenantPause] | None = None
) -> APIGatewayHttpRouter:
    """The pause routes; ``pause`` lets tests pass their own service."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    service = wiring.cached_factory(pause or wiring.tenant_pause)

    @router.get(
        "/tenants/<tenant_id>/sync/pause",
        summary="Read whether the tenant's sync is paused",
        responses={200: {"description": "The pause state"}, **error_responses(401, 403, 404)},
        tags=["sync"],
    )
    def get_pause(tenant_id: TenantId) -> PauseState:
        require_tenant(router, tenant_id, deps.tenants)
        return service().state(tenant_id)

    @router.post(
        "/tenants/<tenant_id>/sync/pause",
        summary="Pause the tenant's sync",
        description=(
            "Pushes and pulls are held, not lost: webhooks are still accepted and queued, and the workers "
            "park each change with reason code tenant_paused until the sync resumes; the reconciliation "
            "skips the tenant. Pausing again changes nothing (who paused it first, and when, stay)."
        ),
        responses={200: {"description": "Paused"}, **error_responses(401, 403, 404)},
        tags=["sync"],
    )
    def pause_sync(tenant_id: TenantId) -> PauseState:
        principal = require_tenant(router, tenant_id, deps.tenants)
        return service().pause(tenant_id, principal.sub)

    @router.post(
        "/tenants/<tenant_id>/sync/resume",
        summary="Resume the tenant's sync",
        description=(
            "Clears the pause, then queues every change held while paused again, oldest first "
            "(released: how many). Resuming a tenant that is not paused releases nothing."
        ),
        responses={200: {"description": "Resumed"}, **error_responses(401, 403, 404)},
        tags=["sync"],
    )
    def resume_sync(tenant_id: TenantId) -> PauseState:
        principal = require_tenant(router, tenant_id, deps.tenants)
        return service().resume(tenant_id, principal.sub)

    return router

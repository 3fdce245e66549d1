"""Admin API Lambda: settings, mappings, QBO reference data, preflight, audit, and the OpenAPI docs."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.api.dependencies import ApiDependencies


@lru_cache
def resolver(routers: tuple[str, ...]) -> APIGatewayHttpResolver:
    """Built on the first request for these routers, so importing the handler does no work and a request
    imports only the routes its path can reach (``qbosync.api.resolver.routers_for``)."""
    from qbosync.api.resolver import build_resolver

    return build_resolver(routers=routers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: ApiDependencies | None = None
) -> dict[str, Any]:
    """Resolve one admin API request; ``deps`` lets tests pass their collaborators."""
    from qbosync.api.resolver import build_resolver, routers_for

    routers = routers_for(str(event.get("rawPath", "")))
    app = resolver(routers) if deps is None else build_resolver(deps, routers)
    return app.resolve(event, context)

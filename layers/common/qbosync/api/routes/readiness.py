"""QBO reference data and preflight: ``/tenants/{tenant_id}/qbo/reference/{kind}`` and ``/preflight``."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.errors import NotFound
from qbosync.sync.configuration import QBO_ITEM_TYPES_FOR_PRODUCTS, MappingKind
from qbosync.sync.preflight import PreflightReport, run_preflight
from qbosync.sync.reference import QboReference, ReferenceEntryView, ReferenceKind, mark_mapped

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# An unknown kind stays a 404 naming the kinds (``reference_kind``); the enum documents the closed set.
# QBO's item types are a fixed set, not a list QBO serves: the product-types mapping's targets.
ITEM_TYPES = "item-types"
QboKind = Annotated[
    str,
    Path(
        description="which QBO list",
        json_schema_extra={"enum": [kind.value for kind in ReferenceKind] + [ITEM_TYPES]},
    ),
]


class ReferenceList(BaseModel):
    kind: str
    entries: list[ReferenceEntryView]


def reference_kind(value: str) -> ReferenceKind:
    """The reference kind named in a path, or a 404 naming the kinds that exist."""
    try:
        return ReferenceKind(value)
    except ValueError:
        raise NotFound(
            f"unknown reference kind {value!r}",
            code="unknown_reference_kind",
            details=[{"allowed": [kind.value for kind in ReferenceKind] + [ITEM_TYPES]}],
        ) from None


def readiness_router(deps: ApiDependencies) -> APIGatewayHttpRouter:
    """Routes an admin uses while configuring: QBO choices, and whether the tenant is ready to sync."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.get(
        "/tenants/<tenant_id>/qbo/reference/<kind>",
        summary="List QBO reference data, marking entries already mapped",
        description=(
            "kind is one of " + ", ".join(k.value for k in ReferenceKind) + ". Cached for"
            " QBOSYNC_REFERENCE_CACHE_SECONDS (1 hour by default); refresh=true reads QBO now (429 when the"
            " app's read budget is exhausted). item-types is QBO's fixed set of item types a product type"
            " maps to (no QBO read, no connection needed)."
        ),
        responses={200: {"description": "The entries"}, **error_responses(409, 429, 502)},
        tags=["reference"],
    )
    def get_reference(
        tenant_id: TenantId, kind: QboKind, refresh: Annotated[bool, Query()] = False
    ) -> ReferenceList:
        require_tenant(router, tenant_id, deps.tenants)
        if kind == ITEM_TYPES:
            return _item_types(deps, tenant_id)
        reference = reference_kind(kind)
        _reader, catalog = deps.connected_qbo(tenant_id)
        entries = catalog.entries(reference, refresh=refresh)
        mapped = deps.configuration().mapped_sources_by_qbo_id(tenant_id, reference)
        return ReferenceList(kind=reference.value, entries=mark_mapped(entries, mapped))

    @router.get(
        "/tenants/<tenant_id>/preflight",
        summary="Check whether the tenant is ready to sync",
        description="Each check passes, fails or warns, with the reason and how to fix it.",
        responses={200: {"description": "The checks"}, **error_responses(502)},
        tags=["preflight"],
    )
    def get_preflight(tenant_id: TenantId) -> PreflightReport:
        require_tenant(router, tenant_id, deps.tenants)
        return tenant_preflight(deps, tenant_id)

    return router


def _item_types(deps: ApiDependencies, tenant_id: str) -> ReferenceList:
    """The item types a source product type can map to, marked with the product types mapped to each."""
    rows, _version = deps.configuration().read_mapping(tenant_id, MappingKind.PRODUCT_TYPES)
    mapped: dict[str, list[str]] = {}
    for row in rows:
        mapped.setdefault(row.qbo_id, []).append(row.source_key)
    entries = [QboReference(id=name, name=name, type=name) for name in QBO_ITEM_TYPES_FOR_PRODUCTS]
    return ReferenceList(kind=ITEM_TYPES, entries=mark_mapped(entries, mapped))


def tenant_preflight(deps: ApiDependencies, tenant_id: str) -> PreflightReport:
    """The tenant's preflight on its stored settings and mappings, connection, QBO and source: what
    ``GET /preflight`` shows and what ``POST /sync/initial`` requires to pass."""
    configuration = deps.configuration()
    settings, _version = configuration.read_settings(tenant_id)
    return run_preflight(
        settings,
        configuration.all_mappings(tenant_id),
        deps.connections.get(tenant_id),
        lambda: deps.connected_qbo(tenant_id),
        lambda: deps.source_reader_for(tenant_id),
    )

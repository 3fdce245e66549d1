"""The source's reference data: ``/tenants/{tenant_id}/source/reference/{kind}``."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.errors import NotFound
from qbosync.sync.configuration import SOURCE_DEFAULT_LISTS, MappingKind
from qbosync.sync.source_reference import SourceReferenceKind, SourceReferenceList, mark_source_entries

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
SourceKind = Annotated[
    str,
    Path(
        description="which source list",
        json_schema_extra={"enum": [kind.value for kind in SourceReferenceKind]},
    ),
]


def source_reference_kind(value: str) -> SourceReferenceKind:
    """The source list named in a path, or a 404 naming the lists that exist."""
    try:
        return SourceReferenceKind(value)
    except ValueError:
        raise NotFound(
            f"unknown source reference kind {value!r}",
            code="unknown_reference_kind",
            details=[{"allowed": [kind.value for kind in SourceReferenceKind]}],
        ) from None


def source_reference_router(deps: ApiDependencies) -> APIGatewayHttpRouter:
    """The source column of every mapping table, and the source defaults' choices."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.get(
        "/tenants/<tenant_id>/source/reference/<kind>",
        summary="List the source's reference data, marking entries already mapped",
        description=(
            "The source side of the mapping tables (payment-methods, gl-codes, product-types, "
            "income-accounts, gl-accounts, tax-codes) and of the source defaults (bill-profiles, products). "
            "An entry is mapped when a mapping row maps from it (mapped_to: the QBO ids) or a source "
            "default names it (default_for). Cached for 5 minutes; refresh=true reads the source now. "
            "Products list the first 1,000; complete says whether that is all of them."
        ),
        responses={200: {"description": "The entries"}, **error_responses(502)},
        tags=["reference"],
    )
    def get_source_reference(
        tenant_id: TenantId, kind: SourceKind, refresh: Annotated[bool, Query()] = False
    ) -> SourceReferenceList:
        require_tenant(router, tenant_id, deps.tenants)
        source_kind = source_reference_kind(kind)
        entries, complete = deps.source_catalog(tenant_id).entries(source_kind, refresh=refresh)
        configuration = deps.configuration()
        mapped_to: dict[str, list[str]] = {}
        if source_kind.value in {kind.value for kind in MappingKind}:
            rows, _version = configuration.read_mapping(tenant_id, MappingKind(source_kind.value))
            for row in rows:
                mapped_to.setdefault(row.source_key, []).append(row.qbo_id)
        settings, _version = configuration.read_settings(tenant_id)
        defaults: dict[str, list[str]] = {}
        for field, list_kind in SOURCE_DEFAULT_LISTS.items():
            value = getattr(settings.source_defaults, field)
            if list_kind is source_kind and value is not None:
                defaults.setdefault(value, []).append(f"source_defaults.{field}")
        return SourceReferenceList(
            kind=source_kind, complete=complete, entries=mark_source_entries(entries, mapped_to, defaults)
        )

    return router

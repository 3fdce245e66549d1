"""Settings, mappings and the audit trail: ``/tenants/{tenant_id}/settings|mappings|audit``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from qbosync.api.auth import require_tenant
from qbosync.api.concurrency import ETAG_PATTERN, etag, expected_version
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses, versioned_ok
from qbosync.errors import ValidationFailed
from qbosync.observability import logger
from qbosync.sync.configuration import (
    AuditEntryView,
    MappingKind,
    MappingRow,
    MappingRowInput,
    TenantSettings,
    mapping_kind,
    sections_left_out,
)

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# Required in the OpenAPI document; a request without it is answered 428 (``api.errors``), not 422.
IfMatch = Annotated[
    str,
    Header(alias="If-Match", pattern=ETAG_PATTERN, description='the ETag of your last read, e.g. "3"'),
]
KIND_DESCRIPTION = "one of " + ", ".join(kind.value for kind in MappingKind)
# An unknown kind stays a 404 naming the kinds (``mapping_kind``); the enum documents the closed set.
Kind = Annotated[
    str, Path(description="which mapping", json_schema_extra={"enum": [kind.value for kind in MappingKind]})
]


class SettingsEnvelope(BaseModel):
    settings: TenantSettings
    version: int


class MappingsEnvelope(BaseModel):
    kind: str
    rows: list[MappingRow]
    version: int


class MappingsReplacement(BaseModel):
    """The whole set of rows for one kind; rows not listed are removed."""

    model_config = ConfigDict(extra="forbid")

    rows: list[MappingRowInput] = Field(max_length=2000)


class AuditPage(BaseModel):
    entries: list[AuditEntryView]
    next_cursor: str | None = None


def _versioned(body: BaseModel, version: int) -> Response[Any]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json"),
        headers={"ETag": etag(version)},
    )


def configuration_router(deps: ApiDependencies) -> APIGatewayHttpRouter:
    """Routes that read and change a tenant's configuration."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    def _released(tenant_id: str, stored: TenantSettings) -> int:
        """Document pushes parked for want of a go-live date go again once the settings have one."""
        return deps.go_live_set(tenant_id) if stored.onboarding.go_live_date is not None else 0

    @router.get(
        "/tenants/<tenant_id>/settings",
        summary="Read the tenant's settings",
        description="Defaults at version 0 until the first save. The ETag carries the version.",
        responses={**versioned_ok("The settings and their version"), **error_responses()},
        tags=["settings"],
    )
    def get_settings(tenant_id: TenantId) -> Response[SettingsEnvelope]:
        require_tenant(router, tenant_id, deps.tenants)
        settings, version = deps.configuration().read_settings(tenant_id)
        return _versioned(SettingsEnvelope(settings=settings, version=version), version)

    @router.put(
        "/tenants/<tenant_id>/settings",
        summary="Replace the tenant's settings",
        description=(
            "Needs If-Match and the whole document (422 settings_incomplete names what is missing; PATCH "
            "changes part of it). QBO targets and source defaults are checked against live data."
        ),
        responses={
            **versioned_ok("The stored settings and their new version"),
            **error_responses(409, 415, 428, 502),
        },
        tags=["settings"],
    )
    def put_settings(
        tenant_id: TenantId, settings: Annotated[TenantSettings, Body()], if_match: IfMatch
    ) -> Response[SettingsEnvelope]:
        principal = require_tenant(router, tenant_id, deps.tenants)
        missing = sections_left_out(settings)
        if missing:
            raise ValidationFailed(
                f"PUT replaces the whole settings document; {len(missing)} field(s) are missing. Send them "
                "all (read them first), or use PATCH to change some",
                code="settings_incomplete",
                details=[
                    {"loc": f"body.{path}", "type": "missing", "message": "not sent"} for path in missing
                ],
            )
        stored, version = deps.configuration().replace_settings(
            tenant_id,
            principal.sub,
            settings,
            expected_version(if_match),
            deps.catalog_for(tenant_id),
            source_catalog=deps.source_catalog_for(tenant_id),
        )
        logger.info(
            "settings replaced", extra={"version": version, "events_released": _released(tenant_id, stored)}
        )
        return _versioned(SettingsEnvelope(settings=stored, version=version), version)

    @router.patch(
        "/tenants/<tenant_id>/settings",
        summary="Change some of the tenant's settings",
        description=(
            "A JSON merge patch (RFC 7396): objects merge field by field, null resets a field to its "
            "default, anything else replaces it. Needs If-Match (428 without it, 412 when it is not "
            "the current version). The patched settings are checked as PUT checks them."
        ),
        responses={
            **versioned_ok("The stored settings and their new version"),
            **error_responses(409, 412, 415, 428, 502),
        },
        tags=["settings"],
    )
    def patch_settings(
        tenant_id: TenantId, patch: Annotated[dict[str, Any], Body()], if_match: IfMatch
    ) -> Response[SettingsEnvelope]:
        principal = require_tenant(router, tenant_id, deps.tenants)
        stored, version = deps.configuration().patch_settings(
            tenant_id,
            principal.sub,
            patch,
            expected_version(if_match),
            deps.catalog_for(tenant_id),
            source_catalog=deps.source_catalog_for(tenant_id),
        )
        logger.info(
            "settings patched",
            extra={
                "version": version,
                "fields": sorted(patch),
                "events_released": _released(tenant_id, stored),
            },
        )
        return _versioned(SettingsEnvelope(settings=stored, version=version), version)

    @router.get(
        "/tenants/<tenant_id>/mappings/<kind>",
        summary="Read one kind of mapping",
        description=f"kind is {KIND_DESCRIPTION}. The ETag carries the version.",
        responses={**versioned_ok("The rows and their version"), **error_responses()},
        tags=["mappings"],
    )
    def get_mappings(tenant_id: TenantId, kind: Kind) -> Response[MappingsEnvelope]:
        require_tenant(router, tenant_id, deps.tenants)
        mapping = mapping_kind(kind)
        rows, version = deps.configuration().read_mapping(tenant_id, mapping)
        return _versioned(MappingsEnvelope(kind=mapping.value, rows=rows, version=version), version)

    @router.put(
        "/tenants/<tenant_id>/mappings/<kind>",
        summary="Replace every row of one kind of mapping",
        description=(
            f"kind is {KIND_DESCRIPTION}. Needs If-Match. Every row is checked against live QBO data, "
            "and every source_key against the source's list of the same kind "
            "(GET /tenants/{tenant_id}/source/reference/{kind}); a refused request names every bad row "
            "and changes nothing."
        ),
        responses={
            **versioned_ok("The stored rows and their new version"),
            **error_responses(409, 415, 428, 502),
        },
        tags=["mappings"],
    )
    def put_mappings(
        tenant_id: TenantId,
        kind: Kind,
        replacement: Annotated[MappingsReplacement, Body()],
        if_match: IfMatch,
    ) -> Response[MappingsEnvelope]:
        principal = require_tenant(router, tenant_id, deps.tenants)
        mapping = mapping_kind(kind)
        rows, version = deps.configuration().replace_mapping(
            tenant_id,
            principal.sub,
            mapping,
            rows=replacement.rows,
            expected_version=expected_version(if_match),
            catalog=deps.catalog_for(tenant_id),
            source_catalog=deps.source_catalog_for(tenant_id),
        )
        released = deps.mappings_added(tenant_id, mapping.value, [row.source_key for row in rows])
        logger.info(
            "mappings replaced",
            extra={"kind": mapping.value, "rows": len(rows), "version": version, "events_released": released},
        )
        return _versioned(MappingsEnvelope(kind=mapping.value, rows=rows, version=version), version)

    @router.delete(
        "/tenants/<tenant_id>/mappings/<kind>/<source_key>",
        summary="Remove one mapping row",
        description=f"kind is {KIND_DESCRIPTION}. Needs If-Match.",
        responses={
            **versioned_ok("The remaining rows and their new version"),
            **error_responses(409, 428),
        },
        tags=["mappings"],
    )
    def delete_mapping(
        tenant_id: TenantId, kind: Kind, source_key: str, if_match: IfMatch
    ) -> Response[MappingsEnvelope]:
        principal = require_tenant(router, tenant_id, deps.tenants)
        mapping = mapping_kind(kind)
        rows, version = deps.configuration().delete_mapping_row(
            tenant_id, principal.sub, mapping, source_key, expected_version(if_match)
        )
        logger.info("mapping row deleted", extra={"kind": mapping.value, "version": version})
        return _versioned(MappingsEnvelope(kind=mapping.value, rows=rows, version=version), version)

    @router.get(
        "/tenants/<tenant_id>/audit",
        summary="Read the configuration audit trail, newest first",
        responses={200: {"description": "One page of audit entries"}, **error_responses()},
        tags=["audit"],
    )
    def get_audit(
        tenant_id: TenantId,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> AuditPage:
        require_tenant(router, tenant_id, deps.tenants)
        entries, next_cursor = deps.configuration().audit_trail(tenant_id, limit, cursor)
        return AuditPage(entries=entries, next_cursor=next_cursor)

    return router

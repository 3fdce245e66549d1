"""The tenant registry: which source accounts qbosync serves.

A tenant is registered when it is provisioned (its source credentials stored, see ``app_secrets``);
every route names a tenant, and an unregistered one is refused with 404 before anything else happens.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from qbosync.errors import NotFound
from qbosync.source.config import TenantSourceConfig
from qbosync.store.table import Condition, ConditionFailed, MainTable

_PROFILE_SK = "PROFILE"
TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


class UnknownTenant(NotFound):
    code = "unknown_tenant"


class Tenant(BaseModel):
    """One account of the source system, connected (or to be connected) to one QBO company."""

    tenant_id: str = Field(min_length=1, max_length=64, pattern=TENANT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # Set by an operator's offboarding: the tenant is unknown to every route from then on, and its data
    # is deleted by the operator's purge once purge_after has passed.
    offboarded_at: datetime | None = None
    purge_after: datetime | None = None
    source: TenantSourceConfig | None = Field(
        None,
        description="which source adapter serves this tenant; none: the contract adapter at SOURCE_BASE_URL",
    )
    # Which derivation of the app's source webhook key signs this tenant's webhooks; a rotation adds one.
    webhook_secret_version: int = Field(1, ge=1)
    # Set while an admin or operator has paused the tenant's sync: webhooks are still accepted, and what
    # the workers take is parked (reason code ``tenant_paused``) until the resume releases it.
    paused_at: datetime | None = None
    paused_by: str | None = None

    @property
    def sync_paused(self) -> bool:
        return self.paused_at is not None


class TenantRepository:
    """Registers and looks up tenants in the main table (``TENANT#{id}`` / ``PROFILE``)."""

    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def register(self, tenant: Tenant) -> None:
        """Register a tenant; registering it again keeps its original creation time."""
        pk = f"TENANT#{tenant.tenant_id}"
        item: dict[str, Any] = {
            "pk": pk,
            "sk": _PROFILE_SK,
            "tenant_id": tenant.tenant_id,
            "name": tenant.name,
            "created_at": tenant.created_at.isoformat(),
        }
        if tenant.source is not None:
            item["source"] = tenant.source.model_dump(mode="json", exclude_none=True)
        try:
            self._table.put(item, condition=Condition("attribute_not_exists(pk)"))
        except ConditionFailed:
            self._table.update(pk, _PROFILE_SK, _name_and_source_update(tenant))

    def get(self, tenant_id: str) -> Tenant:
        """The tenant, or ``UnknownTenant`` (a 404) when it was never registered or was offboarded."""
        tenant = self.profile(tenant_id)
        if tenant is None or tenant.offboarded_at is not None:
            raise UnknownTenant(f"Tenant '{tenant_id}' is not registered with qbosync.")
        return tenant

    def profile(self, tenant_id: str) -> Tenant | None:
        """The tenant's profile as stored, offboarded or not (``None`` when never registered)."""
        # An id no tenant can have (a '#', a space) is unknown without a read, and never a key.
        item = self._table.get(f"TENANT#{tenant_id}", _PROFILE_SK) if _is_tenant_id(tenant_id) else None
        return Tenant.model_validate(item) if item is not None else None

    def list_all(self) -> list[Tenant]:
        """Every tenant profile, offboarded ones included: for operators (a filtered scan of the table)."""
        items = self._table.scan_all(Condition("sk = :profile", values={":profile": _PROFILE_SK}))
        return sorted((Tenant.model_validate(item) for item in items), key=lambda tenant: tenant.tenant_id)

    def mark_offboarded(self, tenant_id: str, at: datetime, purge_after: datetime) -> Tenant:
        """Record the offboarding (kept if already offboarded: the first date and purge time stand)."""
        if not _is_tenant_id(tenant_id):
            raise UnknownTenant(f"Tenant '{tenant_id}' is not registered with qbosync.")
        try:
            item = self._table.update(
                f"TENANT#{tenant_id}",
                _PROFILE_SK,
                Condition(
                    "SET offboarded_at = if_not_exists(offboarded_at, :at), "
                    "purge_after = if_not_exists(purge_after, :purge)",
                    values={":at": at.isoformat(), ":purge": purge_after.isoformat()},
                ),
                condition=Condition("attribute_exists(pk)"),
            )
        except ConditionFailed as exc:
            raise UnknownTenant(f"Tenant '{tenant_id}' is not registered with qbosync.") from exc
        return Tenant.model_validate(item)

    def pause(self, tenant_id: str, by: str, at: datetime) -> Tenant:
        """Pause the tenant's sync (pausing again keeps who paused it first, and when)."""
        self.get(tenant_id)
        item = self._table.update(
            f"TENANT#{tenant_id}",
            _PROFILE_SK,
            Condition(
                "SET paused_at = if_not_exists(paused_at, :at), paused_by = if_not_exists(paused_by, :by)",
                values={":at": at.isoformat(), ":by": by},
            ),
            condition=Condition("attribute_exists(pk)"),
        )
        return Tenant.model_validate(item)

    def resume(self, tenant_id: str) -> Tenant:
        """Resume the tenant's sync (resuming one that is not paused changes nothing)."""
        self.get(tenant_id)
        item = self._table.update(
            f"TENANT#{tenant_id}",
            _PROFILE_SK,
            Condition("REMOVE paused_at, paused_by"),
            condition=Condition("attribute_exists(pk)"),
        )
        return Tenant.model_validate(item)

    def is_paused(self, tenant_id: str) -> bool:
        """Whether the tenant's sync is paused (an unknown tenant is not)."""
        profile = self.profile(tenant_id)
        return profile is not None and profile.sync_paused

    def next_webhook_secret_version(self, tenant_id: str) -> Tenant:
        """Rotate the tenant's source webhook secret: its derivation moves to the next version."""
        self.get(tenant_id)
        item = self._table.update(
            f"TENANT#{tenant_id}",
            _PROFILE_SK,
            Condition(
                "SET webhook_secret_version = if_not_exists(webhook_secret_version, :first) + :one",
                values={":first": 1, ":one": 1},
            ),
            condition=Condition("attribute_exists(pk)"),
        )
        return Tenant.model_validate(item)

    def exists(self, tenant_id: str) -> bool:
        try:
            self.get(tenant_id)
        except UnknownTenant:
            return False
        return True


def _is_tenant_id(value: str) -> bool:
    return 0 < len(value) <= 64 and _TENANT_ID.match(value) is not None


def _name_and_source_update(tenant: Tenant) -> Condition:
    """Registering again renames the tenant and sets (or, when absent, keeps) its source config."""
    names = {"#name": "name"}
    values: dict[str, Any] = {":name": tenant.name}
    expression = "SET #name = :name"
    if tenant.source is not None:
        names["#source"] = "source"
        values[":source"] = tenant.source.model_dump(mode="json", exclude_none=True)
        expression += ", #source = :source"
    return Condition(expression, names=names, values=values)

"""What a sandbox run looks like: tenants and their credentials, data volume, webhook delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from qbosync.source.kit.rules import ContractRule

TenantId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
DeliveryMode = Literal["immediate", "hold"]


class TenantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: TenantId
    api_key: Annotated[str, StringConstraints(min_length=8, max_length=256)]
    webhook_secret: Annotated[str, StringConstraints(min_length=8, max_length=256)]


class WebhookConfig(BaseModel):
    """Where and how change notifications go. ``url`` may contain ``{tenant_id}``."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    mode: DeliveryMode = "immediate"
    copies: int = Field(1, ge=1, le=3, description="times each event is delivered (at-least-once)")
    max_attempts: int = Field(5, ge=1, le=10)
    backoff_seconds: float = Field(0.2, ge=0, le=30)
    timeout_seconds: float = Field(5.0, gt=0, le=60)


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenants: list[TenantConfig] = Field(min_length=1)
    customers: int = Field(200, ge=0, le=100_000)
    products: int = Field(60, ge=0, le=20_000)
    invoices: int = Field(12, ge=0, le=10_000)
    seed: int = 7
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)
    snapshot_path: Path | None = None
    broken_rule: ContractRule | None = Field(
        None, description="break this one rule of the contract, to prove the contract kit catches it"
    )

    @model_validator(mode="after")
    def _tenant_ids_are_unique(self) -> SandboxConfig:
        ids = [tenant.id for tenant in self.tenants]
        if len(ids) != len(set(ids)):
            raise ValueError("tenant ids must be unique")
        return self

    @classmethod
    def for_tenants(
        cls,
        tenant_ids: list[str],
        *,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        **options: object,
    ) -> SandboxConfig:
        """A config whose tenants share ``api_key``/``webhook_secret`` if given, else get their own."""
        tenants = [
            TenantConfig(
                id=tenant_id,
                api_key=api_key or f"sk_sandbox_{tenant_id}",
                webhook_secret=webhook_secret or f"whsec_sandbox_{tenant_id}",
            )
            for tenant_id in tenant_ids
        ]
        return cls.model_validate({"tenants": tenants, **options})

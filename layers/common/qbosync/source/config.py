"""How one tenant reaches its source system: which adapter, where, and with which secrets.

``TenantSourceConfig`` is stored on the tenant record (no secrets in it); the secrets are sealed in the
tenant's item (``qbosync.store.source_credentials``) and arrive as ``SourceAdapterCredentials``.
``qbosync.source.registry`` turns the two into a ``SourcePort``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints


class SourceAdapterKind(StrEnum):
    """The adapters qbosync has; the tenant record names one."""

    HTTP_CONTRACT = "http_contract"
    """Any system that speaks ``docs/source-contract.md`` (the source sandbox does)."""
    REVIO = "revio"
    """Rev.io's billing REST API (``docs/revio.md``); the client code is the option ``client_code``."""


OptionName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class TenantSourceConfig(BaseModel):
    """The non-secret part of a tenant's source connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    adapter: SourceAdapterKind = SourceAdapterKind.HTTP_CONTRACT
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)] | None = Field(
        None, description="the source API's base URL; none means the deployment's SOURCE_BASE_URL"
    )
    options: dict[OptionName, Annotated[str, StringConstraints(max_length=512)]] = Field(
        default_factory=dict, max_length=32, description="adapter-specific settings that are not secret"
    )


class SourceAdapterCredentials(BaseModel):
    """The secret part, as sealed in the tenant's item; ``SECRETS_NEEDED`` says which fields each adapter
    kind needs. A stored ``{"api_key": ...}`` (all older versions wrote) is the contract adapter's."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    api_key: SecretStr | None = None
    username: SecretStr | None = None
    password: SecretStr | None = None
    subscription_key: SecretStr | None = None

    def missing_for(self, kind: SourceAdapterKind) -> list[str]:
        """The secrets ``kind`` needs that are absent or blank, in ``SECRETS_NEEDED`` order."""
        return [
            name
            for name in SECRETS_NEEDED[kind]
            if (value := getattr(self, name)) is None or not value.get_secret_value().strip()
        ]


SECRETS_NEEDED: Mapping[SourceAdapterKind, tuple[str, ...]] = {
    SourceAdapterKind.HTTP_CONTRACT: ("api_key",),
    SourceAdapterKind.REVIO: ("username", "password", "subscription_key"),
}
"""Which ``SourceAdapterCredentials`` fields each adapter kind needs."""

OPTIONS_NEEDED: Mapping[SourceAdapterKind, tuple[str, ...]] = {
    SourceAdapterKind.HTTP_CONTRACT: (),
    SourceAdapterKind.REVIO: ("client_code",),
}
"""Which ``TenantSourceConfig.options`` each adapter kind needs (not secret: on the tenant record)."""


def missing_options(config: TenantSourceConfig) -> list[str]:
    return [name for name in OPTIONS_NEEDED[config.adapter] if not config.options.get(name, "").strip()]

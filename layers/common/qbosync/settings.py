"""Settings as models: every environment variable the functions read is declared here, once.

Nothing reads ``os.environ`` elsewhere. ``get_settings()`` parses lazily and caches, so importing a
handler does no work; tests call ``get_settings.cache_clear()`` after changing the environment.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict


class QboLimits(BaseSettings):
    """QuickBooks Online's per-realm limits, as the governor enforces them (Intuit's production values)."""

    model_config = SettingsConfigDict(env_prefix="QBO_LIMIT_", frozen=True)

    requests_per_window: int = Field(500, ge=1, description="requests per realm per window, batch included")
    window_seconds: float = Field(60.0, gt=0, description="length of QBO's rate window")
    max_concurrent: int = Field(10, ge=1, description="concurrent requests per app and realm")
    batch_requests_per_window: int = Field(40, ge=1, description="batch calls per realm per window")
    batch_max_items: int = Field(30, ge=1, le=30, description="items per batch request")
    lease_seconds: float = Field(30.0, gt=0, description="a concurrency slot expires after this long")


class Settings(BaseSettings):
    """Deployment settings shared by every function."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    stage: str = Field("local", alias="QBOSYNC_STAGE")
    table_name: str = Field("qbosync-local", alias="TABLE_NAME")
    idempotency_table_name: str = Field("qbosync-local-idempotency", alias="IDEMPOTENCY_TABLE_NAME")
    secret_prefix: str = Field("qbosync/local", alias="SECRET_PREFIX")
    aws_endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")

    intuit_discovery_url: HttpUrl = Field(
        HttpUrl("https://developer.intuit.com/.well-known/openid_sandbox_configuration"),
        alias="INTUIT_DISCOVERY_URL",
    )
    qbo_base_url: HttpUrl = Field(HttpUrl("https://sandbox-quickbooks.api.intuit.com"), alias="QBO_BASE_URL")
    qbo_minor_version: int = Field(75, ge=75, alias="QBO_MINOR_VERSION")
    oauth_redirect_uri: str = Field("http://127.0.0.1:8080/oauth/callback", alias="OAUTH_REDIRECT_URI")
    admin_return_url: str = Field("http://127.0.0.1:8080/connected", alias="ADMIN_RETURN_URL")

    source_base_url: str = Field("http://127.0.0.1:8766", alias="SOURCE_BASE_URL")

    push_queue_url: str | None = Field(None, alias="PUSH_QUEUE_URL")
    pull_queue_url: str | None = Field(None, alias="PULL_QUEUE_URL")
    push_dlq_url: str | None = Field(None, alias="PUSH_DLQ_URL")
    pull_dlq_url: str | None = Field(None, alias="PULL_DLQ_URL")
    bulk_sync_state_machine_arn: str | None = Field(None, alias="BULK_SYNC_STATE_MACHINE_ARN")

    http_timeout_seconds: float = Field(20.0, gt=0, alias="HTTP_TIMEOUT_SECONDS")
    secret_cache_seconds: int = Field(300, ge=0, alias="SECRET_CACHE_SECONDS")

    @property
    def intuit_app_secret_name(self) -> str:
        """The secret holding the Intuit app's client id, client secret and webhook verifier token."""
        return f"{self.secret_prefix}/app/intuit"

    @property
    def state_signing_secret_name(self) -> str:
        """The secret holding the key that signs OAuth ``state`` values."""
        return f"{self.secret_prefix}/app/state-signing-key"

    def tenant_token_secret_name(self, tenant_id: str) -> str:
        """The secret holding one tenant's QBO tokens."""
        return f"{self.secret_prefix}/tenants/{tenant_id}/qbo-tokens"

    def tenant_source_secret_name(self, tenant_id: str) -> str:
        """The secret holding one tenant's source API key and webhook signing secret."""
        return f"{self.secret_prefix}/tenants/{tenant_id}/source"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The deployment settings, parsed from the environment on first use."""
    return Settings()


@lru_cache(maxsize=1)
def get_qbo_limits() -> QboLimits:
    """QBO's limits as configured for the governor."""
    return QboLimits()

"""Settings as models: every environment variable the functions read is declared here, once.

Nothing reads ``os.environ`` elsewhere. ``get_settings()``, ``get_qbo_limits()`` and ``get_sync_tuning()``
parse lazily and cache, so importing a handler does no work; tests call ``get_settings.cache_clear()``
(and the others') after changing the environment.

The models are plain pydantic models filled from the environment by ``EnvironmentSettings``: importing
pydantic-settings and building its models cost a cold start about a tenth of importing boto3, for four
lookups by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from functools import lru_cache
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator


class EnvironmentSettings(BaseModel):
    """A settings model filled from the environment: each field from the variable its alias names, else
    ``env_prefix`` and its name, in any case (as pydantic-settings matched them); values given to the
    constructor win over the environment."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    env_prefix: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**self._from_environment(given=values.keys()), **values})

    @classmethod
    def _from_environment(cls, given: Iterable[str]) -> dict[str, str]:
        """The environment's values, by alias where a field has one (so errors name the variable), else
        by name; fields the constructor was given (by name or alias) are left out."""
        environment = {name.upper(): value for name, value in os.environ.items()}
        passed = set(given)
        found: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            variable = (field.alias or f"{cls.env_prefix}{name}").upper()
            if variable in environment and not passed & {name, field.alias}:
                found[field.alias or name] = environment[variable]
        return found


class QboLimits(EnvironmentSettings):
    """QuickBooks Online's per-realm limits, as the governor enforces them (Intuit's production values)."""

    env_prefix: ClassVar[str] = "QBO_LIMIT_"

    requests_per_window: int = Field(500, ge=1, description="requests per realm per window, batch included")
    window_seconds: float = Field(60.0, gt=0, description="length of QBO's rate window")
    max_concurrent: int = Field(10, ge=1, description="concurrent requests per app and realm")
    batch_requests_per_window: int = Field(40, ge=1, description="batch calls per realm per window")
    batch_max_items: int = Field(30, ge=1, le=30, description="items per batch request")
    lease_seconds: float = Field(30.0, gt=0, description="a concurrency slot expires after this long")
    lease_requests: int = Field(
        10,
        ge=1,
        le=100,
        description="requests a process takes from the realm's shared window count at once (one write per"
        " lease instead of one per request); 1 counts every request in the shared record",
    )


class SyncTuning(EnvironmentSettings):
    """The scheduled services' tuning knobs: token keep-alive, event retry schedule, reconciliation.

    Each field is read from the environment variable named by its alias (``template.yaml`` passes
    them from its parameters). Bounds keep every value workable; a bad one fails the first service
    construction with a ``ValidationError`` naming the variable.
    """

    keepalive_idle_days: int = Field(
        7,
        ge=1,
        le=90,
        alias="QBOSYNC_KEEPALIVE_IDLE_DAYS",
        description="tokens last refreshed this long ago are refreshed; Intuit's refresh token lapses"
        " after 100 days unused, so at most 90 leaves ten daily runs of margin",
    )
    keepalive_expiry_warning_days: int = Field(
        14,
        ge=1,
        le=90,
        alias="QBOSYNC_KEEPALIVE_EXPIRY_WARNING_DAYS",
        description="a connection whose refresh token (or grant) expires within this is reported",
    )
    retry_base_delay_seconds: int = Field(
        300,
        ge=1,
        le=86_400,
        alias="QBOSYNC_RETRY_BASE_DELAY_SECONDS",
        description="wait before an event's first retry; doubled after each further attempt",
    )
    retry_max_delay_seconds: int = Field(
        21_600,
        ge=1,
        le=604_800,
        alias="QBOSYNC_RETRY_MAX_DELAY_SECONDS",
        description="the doubling stops at this wait (at least the base delay)",
    )
    retry_max_attempts: int = Field(
        8,
        ge=1,
        le=100,
        alias="QBOSYNC_RETRY_MAX_ATTEMPTS",
        description="an event with this many attempts is no longer retried by the schedule",
    )
    retry_dead_letter_after_seconds: int = Field(
        3_600,
        ge=840,  # the push queue's visibility timeout (720 s) plus the worker's timeout (120 s)
        le=604_800,
        alias="QBOSYNC_RETRY_DEAD_LETTER_AFTER_SECONDS",
        description="a push event its queue was retrying is retried by the schedule once quiet this long;"
        " at least 300 s, the push queue's visibility timeout (180 s) plus the worker's timeout (120 s),"
        " so the queue has given up on it first",
    )
    reconcile_overlap_seconds: int = Field(
        300,
        ge=0,
        le=3_600,
        alias="QBOSYNC_RECONCILE_OVERLAP_SECONDS",
        description="each run starts this much before its checkpoint, for clock skew",
    )
    reconcile_cdc_max_lookback_days: int = Field(
        29,
        ge=1,
        le=30,
        alias="QBOSYNC_RECONCILE_CDC_MAX_LOOKBACK_DAYS",
        description="QBO's CDC returns changes of the last 30 days only; a checkpoint older than this"
        " is caught up by paged queries instead. 29 leaves a day's margin for the run's own duration"
        " and for clock skew with Intuit",
    )

    @model_validator(mode="after")
    def _max_delay_not_below_base(self) -> Self:
        if self.retry_max_delay_seconds < self.retry_base_delay_seconds:
            raise ValueError(
                f"QBOSYNC_RETRY_MAX_DELAY_SECONDS ({self.retry_max_delay_seconds}) must be at least"
                f" QBOSYNC_RETRY_BASE_DELAY_SECONDS ({self.retry_base_delay_seconds})"
            )
        return self

    @property
    def keepalive_idle_after(self) -> timedelta:
        return timedelta(days=self.keepalive_idle_days)

    @property
    def keepalive_expiry_warning(self) -> timedelta:
        return timedelta(days=self.keepalive_expiry_warning_days)

    @property
    def retry_base_delay(self) -> timedelta:
        return timedelta(seconds=self.retry_base_delay_seconds)

    @property
    def retry_max_delay(self) -> timedelta:
        return timedelta(seconds=self.retry_max_delay_seconds)

    @property
    def retry_dead_letter_after(self) -> timedelta:
        return timedelta(seconds=self.retry_dead_letter_after_seconds)

    @property
    def reconcile_overlap(self) -> timedelta:
        return timedelta(seconds=self.reconcile_overlap_seconds)

    @property
    def reconcile_cdc_max_lookback(self) -> timedelta:
        return timedelta(days=self.reconcile_cdc_max_lookback_days)


class ScheduleFanOut(EnvironmentSettings):
    """The schedules' fan-out: how often reconciliation runs, so the dispatcher can tell who is overdue.

    ``template.yaml`` builds the reconcile schedule from the same parameter (``rate(N minutes)``), so the
    interval the dispatcher judges by is the one EventBridge fires at.
    """

    reconcile_interval_minutes: int = Field(
        15,
        ge=5,
        le=1_440,
        alias="QBOSYNC_RECONCILE_INTERVAL_MINUTES",
        description="reconciliation is dispatched this often; a tenant not reconciled within two"
        " intervals is counted overdue",
    )

    @property
    def reconcile_interval(self) -> timedelta:
        return timedelta(minutes=self.reconcile_interval_minutes)


class Retention(EnvironmentSettings):
    """How long records that only tell history are kept before DynamoDB's TTL deletes them.

    Links, settings, mappings, connections and checkpoints never expire: sync depends on them.
    """

    event_retention_days: int = Field(
        90,
        ge=7,
        le=3_650,
        alias="QBOSYNC_EVENT_RETENTION_DAYS",
        description="a sync event expires this long after its last change (failed and parked events too:"
        " every change of status renews it)",
    )
    audit_retention_days: int = Field(
        400,
        ge=30,
        le=3_650,
        alias="QBOSYNC_AUDIT_RETENTION_DAYS",
        description="an audit entry (settings, mappings, connection) expires this long after it was written",
    )

    @property
    def event_retention(self) -> timedelta:
        return timedelta(days=self.event_retention_days)

    @property
    def audit_retention(self) -> timedelta:
        return timedelta(days=self.audit_retention_days)


class Settings(EnvironmentSettings):
    """Deployment settings shared by every function."""

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
    bulk_sync_state_machine_arn: str | None = Field(None, alias="BULK_SYNC_STATE_MACHINE_ARN")
    dry_run_state_machine_arn: str | None = Field(None, alias="DRY_RUN_STATE_MACHINE_ARN")
    scheduled_work_queue_url: str | None = Field(None, alias="SCHEDULED_WORK_QUEUE_URL")

    qbo_requestid_window_seconds: int = Field(3600, ge=0, alias="QBO_REQUESTID_WINDOW_SECONDS")
    """How long QBO is trusted to replay a requestid; past it an ambiguous write is looked up instead."""
    http_timeout_seconds: float = Field(20.0, gt=0, alias="HTTP_TIMEOUT_SECONDS")
    secret_cache_seconds: int = Field(300, ge=0, alias="SECRET_CACHE_SECONDS")
    # Powertools' own switch; qbosync reads it too, to skip importing the X-Ray SDK when it is off.
    trace_disabled: bool = Field(False, alias="POWERTOOLS_TRACE_DISABLED")
    token_backup_key_id: str | None = Field(None, alias="TOKEN_BACKUP_KEY_ID")
    source_credentials_key_id: str | None = Field(None, alias="SOURCE_CREDENTIALS_KEY_ID")

    @property
    def intuit_app_secret_name(self) -> str:
        """The secret holding the Intuit app's client id and client secret."""
        return f"{self.secret_prefix}/app/intuit"

    @property
    def intuit_webhook_verifier_secret_name(self) -> str:
        """The secret holding only Intuit's webhook verifier token: all the public QBO webhook may read."""
        return f"{self.secret_prefix}/app/intuit-webhook-verifier"

    @property
    def source_webhook_key_secret_name(self) -> str:
        """The app key every tenant's source webhook signing secret is derived from."""
        return f"{self.secret_prefix}/app/source-webhook-key"

    @property
    def state_signing_secret_name(self) -> str:
        """The secret holding the key that signs OAuth ``state`` values."""
        return f"{self.secret_prefix}/app/state-signing-key"

    def tenant_token_secret_name(self, tenant_id: str) -> str:
        """The secret holding one tenant's QBO tokens."""
        return f"{self.secret_prefix}/tenants/{tenant_id}/qbo-tokens"

    def tenant_source_secret_name(self, tenant_id: str) -> str:
        """Where older versions kept one tenant's source API key; ``operator migrate-source-credentials``
        moves it into the sealed ``SOURCE_CREDENTIALS`` item and deletes the secret."""
        return f"{self.secret_prefix}/tenants/{tenant_id}/source"

    @property
    def token_backup_key(self) -> str:
        """The KMS key that seals the second copy of every tenant's QBO tokens (an id, ARN or alias)."""
        return self.token_backup_key_id or f"alias/{self.secret_prefix}/token-backup"

    @property
    def source_credentials_key(self) -> str:
        """The KMS key that seals every tenant's source credentials (an id, ARN or alias)."""
        return self.source_credentials_key_id or f"alias/{self.secret_prefix}/source-credentials"


class TokenRefreshBudget(EnvironmentSettings):
    """Time bounds of one token refresh, so the refresh lock's lease provably outlasts the refresh.

    A refresh is one Intuit call (four httpx phases: pool, connect, write, read, each bounded by
    ``intuit_timeout_seconds``) followed by storing the grant durably, retried with backoff only while
    a whole bounded AWS attempt (``aws_connect_timeout_seconds`` + ``aws_read_timeout_seconds``, no SDK
    retries) still fits in ``store_budget_seconds``. The validator refuses a lease that does not cover both.
    """

    env_prefix: ClassVar[str] = "QBOSYNC_TOKEN_"

    lock_lease_seconds: float = Field(30.0, gt=0, le=900, description="the refresh lock expires after this")
    intuit_timeout_seconds: float = Field(2.5, gt=0, le=30, description="each phase of the Intuit token call")
    aws_connect_timeout_seconds: float = Field(0.5, gt=0, le=10, description="connect, per AWS attempt")
    aws_read_timeout_seconds: float = Field(1.5, gt=0, le=30, description="read, per AWS attempt")
    store_budget_seconds: float = Field(
        12.0, gt=0, le=120, description="storing the new grant, retries and backoff included"
    )
    store_backoff_seconds: float = Field(0.2, gt=0, le=10, description="first wait between store attempts")
    safety_margin_seconds: float = Field(1.0, ge=0, le=60, description="clock skew and local work")

    @property
    def intuit_call_worst_seconds(self) -> float:
        return 4 * self.intuit_timeout_seconds

    @property
    def aws_attempt_worst_seconds(self) -> float:
        return self.aws_connect_timeout_seconds + self.aws_read_timeout_seconds

    @property
    def refresh_worst_seconds(self) -> float:
        """The longest a refresh can take once started: Intuit's call, then the bounded store."""
        return self.intuit_call_worst_seconds + self.store_budget_seconds + self.safety_margin_seconds

    @model_validator(mode="after")
    def _lease_outlasts_the_refresh(self) -> Self:
        if self.store_budget_seconds < self.aws_attempt_worst_seconds:
            raise ValueError(
                f"QBOSYNC_TOKEN_STORE_BUDGET_SECONDS ({self.store_budget_seconds}) must fit at least one AWS"
                f" attempt ({self.aws_attempt_worst_seconds} s)"
            )
        if self.lock_lease_seconds <= self.refresh_worst_seconds:
            raise ValueError(
                f"QBOSYNC_TOKEN_LOCK_LEASE_SECONDS ({self.lock_lease_seconds}) must exceed the longest"
                f" refresh ({self.refresh_worst_seconds} s: 4 x QBOSYNC_TOKEN_INTUIT_TIMEOUT_SECONDS +"
                " QBOSYNC_TOKEN_STORE_BUDGET_SECONDS + QBOSYNC_TOKEN_SAFETY_MARGIN_SECONDS)"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The deployment settings, parsed from the environment on first use."""
    return Settings()


@lru_cache(maxsize=1)
def get_qbo_limits() -> QboLimits:
    """QBO's limits as configured for the governor."""
    return QboLimits()


@lru_cache(maxsize=1)
def get_token_refresh_budget() -> TokenRefreshBudget:
    """The token refresh's time bounds, parsed from the environment on first use."""
    return TokenRefreshBudget()


@lru_cache(maxsize=1)
def get_sync_tuning() -> SyncTuning:
    """The scheduled services' tuning, parsed from the environment on first use."""
    return SyncTuning()


class ReadBudgetSettings(EnvironmentSettings):
    """The app-wide Intuit read budget, the adaptive reconciliation backstop and the reference cache.

    Each field is read from the environment variable named by its alias (``template.yaml`` passes them
    from its parameters, with the same bounds).
    """

    monthly_allowance: int = Field(
        500_000,
        ge=1_000,
        le=1_000_000_000,
        alias="QBOSYNC_READ_BUDGET_MONTHLY",
        description="QBO reads (reads, queries, CDC, reports) the whole app may make per calendar month;"
        " Intuit's Builder tier includes 500,000",
    )
    reserve: int = Field(
        50_000,
        ge=0,
        le=500_000_000,
        alias="QBOSYNC_READ_BUDGET_RESERVE",
        description="reads kept for pushes and pulls: reconciliation is slowed within two reserves of the"
        " allowance and stopped within one; admin reads stop within half of one",
    )
    flush_every: int = Field(
        25,
        ge=1,
        le=1_000,
        alias="QBOSYNC_READ_BUDGET_FLUSH_EVERY",
        description="a process adds its counted reads to the shared counter once this many are pending",
    )
    flush_seconds: int = Field(
        60,
        ge=1,
        le=3_600,
        alias="QBOSYNC_READ_BUDGET_FLUSH_SECONDS",
        description="... or once the oldest pending read is this old; also how long a process trusts the"
        " app total it last saw",
    )
    reconcile_backstop_seconds: int = Field(
        86_400,
        ge=900,
        le=7 * 86_400,
        alias="QBOSYNC_RECONCILE_BACKSTOP_SECONDS",
        description="while webhooks flow, a tenant's backstop CDC runs this often (sooner after a detected"
        " gap or an admin's request)",
    )
    reconcile_low_budget_factor: int = Field(
        4,
        ge=1,
        le=30,
        alias="QBOSYNC_RECONCILE_LOW_BUDGET_FACTOR",
        description="the backstop interval is multiplied by this while the read budget is low",
    )
    source_reconcile_max_backoff_seconds: int = Field(
        14_400,
        ge=900,
        le=7 * 86_400,
        alias="QBOSYNC_SOURCE_RECONCILE_MAX_BACKOFF_SECONDS",
        description="the source listing's wait doubles after each run that found no change, up to this",
    )
    reference_cache_seconds: int = Field(
        3_600,
        ge=60,
        le=86_400,
        alias="QBOSYNC_REFERENCE_CACHE_SECONDS",
        description="QBO reference lists (accounts, items, tax codes, ...) are read again after this;"
        " refresh=true on the reference route reads them now",
    )
    reconcile_gap_min_interval_seconds: int = Field(
        3_600,
        ge=900,
        le=86_400,
        alias="QBOSYNC_RECONCILE_GAP_MIN_INTERVAL_SECONDS",
        description="a detected gap runs a tenant's backstop CDC at the next tick, but at most once this"
        " long after its previous run, so a flood of gap signals costs bounded reads",
    )
    webhook_late_seconds: int = Field(
        900,
        ge=360,
        le=86_400,
        alias="QBOSYNC_WEBHOOK_LATE_SECONDS",
        description="a QBO webhook announcing a change made longer ago than this is late: Intuit was"
        " retrying a failed delivery, so the tenant's backstop CDC runs early",
    )

    @model_validator(mode="after")
    def _reserve_leaves_room(self) -> Self:
        if 2 * self.reserve >= self.monthly_allowance:
            raise ValueError(
                f"QBOSYNC_READ_BUDGET_RESERVE ({self.reserve}) must be under half of"
                f" QBOSYNC_READ_BUDGET_MONTHLY ({self.monthly_allowance})"
            )
        return self

    @property
    def reconcile_backstop(self) -> timedelta:
        return timedelta(seconds=self.reconcile_backstop_seconds)

    @property
    def source_reconcile_max_backoff(self) -> timedelta:
        return timedelta(seconds=self.source_reconcile_max_backoff_seconds)

    @property
    def reconcile_gap_min_interval(self) -> timedelta:
        return timedelta(seconds=self.reconcile_gap_min_interval_seconds)

    @property
    def webhook_late_after(self) -> timedelta:
        return timedelta(seconds=self.webhook_late_seconds)


@lru_cache(maxsize=1)
def get_read_budget_settings() -> ReadBudgetSettings:
    """The read budget's settings, parsed from the environment on first use."""
    return ReadBudgetSettings()


@lru_cache(maxsize=1)
def get_schedule_fan_out() -> ScheduleFanOut:
    """The schedules' fan-out settings, parsed from the environment on first use."""
    return ScheduleFanOut()


@lru_cache(maxsize=1)
def get_retention() -> Retention:
    """How long history is kept, parsed from the environment on first use."""
    return Retention()

"""Every knob of the QBO sandbox in one pydantic model.

Defaults follow Intuit production behaviour (qbo-api.md); where Intuit's behaviour is unknown the
default is the stricter choice, so a client that works here also works against Intuit.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Documented local defaults: the sandbox is a loopback tool, these are not secrets of any real app.
LOCAL_CLIENT_ID = "ABsandboxLocalClientId0000000000000000000000000000"
LOCAL_CLIENT_SECRET = "sandbox-local-client-secret-0000000000"  # noqa: S105 (documented local default)
LOCAL_VERIFIER_TOKEN = "sandbox-local-verifier-token"  # noqa: S105 (documented local default)
LOCAL_REDIRECT_URI = "http://127.0.0.1:8080/oauth/callback"

# "previous refresh tokens expire 24 hours after you receive a new one" (intuit/oauth-jsclient README).
INTUIT_REFRESH_GRACE_SECONDS = 86_400

# QBO's webhook retry schedule: 0 s, 10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h, 6 h, then every 6 h.
INTUIT_WEBHOOK_RETRY_SCHEDULE = [0.0, 10.0, 20.0, 30.0, 300.0, 1200.0, 7200.0, 14400.0, 21600.0]


class FaultSettings(BaseModel):
    """Injected failures; changeable at run time through `/_sandbox/faults`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of API calls answered 500/503")
    drop_after_commit_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="share of API calls processed, then the connection is dropped"
    )
    force_401_next: int = Field(0, ge=0, description="the next N API calls get 401 whatever their token")
    latency_ms: int = Field(0, ge=0, le=60_000, description="added to every API call")


class CompanyFeatures(BaseModel):
    """What a company was set up with in QBO's UI; applied to every seeded realm, changeable per realm
    through `POST /_sandbox/realms/{realm_id}/preferences`."""

    model_config = ConfigDict(extra="forbid")

    home_currency: str = Field(
        "USD", pattern=r"^[A-Z]{3}$", description="ISO code, fixed for the company's life"
    )
    multi_currency: bool = Field(False, description="Preferences.CurrencyPrefs.MultiCurrencyEnabled")
    automated_sales_tax: bool = Field(
        False, description="Preferences.TaxPrefs.PartnerTaxEnabled (AST computes tax)"
    )
    exchange_rates: dict[str, Decimal] = Field(
        default_factory=dict,
        description="home-currency units per one foreign unit, in force from the seed date",
    )

    @field_validator("exchange_rates")
    @classmethod
    def _rates_are_positive(cls, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, rate in rates.items():
            if len(code) != 3 or not code.isupper() or not rate.is_finite() or rate <= 0:
                raise ValueError(f"exchange rate {code}: {rate} must be an ISO code and a positive number")
        return rates


class SandboxConfig(BaseModel):
    """Settings for one sandbox process. Built from defaults, a JSON file and CLI flags."""

    model_config = ConfigDict(extra="forbid")

    # The Intuit app registered with this sandbox.
    client_id: str = Field(LOCAL_CLIENT_ID, min_length=1)
    client_secret: str = Field(LOCAL_CLIENT_SECRET, min_length=1)
    redirect_uris: list[str] = Field(default_factory=lambda: [LOCAL_REDIRECT_URI])
    auto_consent: bool = False
    public_base_url: str | None = Field(
        None, description="base URL put in the discovery document; default: the URL the request came to"
    )

    # Companies.
    seed: int = 1
    realm_count: int = Field(2, ge=1, le=20)
    company_names: list[str] = Field(default_factory=lambda: ["Sandbox Company A", "Sandbox Company B"])
    company_features: CompanyFeatures = Field(default_factory=CompanyFeatures)

    # Tokens.
    access_token_ttl_seconds: int = Field(3600, ge=1)
    refresh_token_ttl_seconds: int = Field(8_726_400, ge=1)
    refresh_token_hard_ttl_seconds: int = Field(5 * 365 * 86_400, ge=1, description="5-year hard cap")
    strict_refresh_rotation: bool = Field(
        False,
        description=(
            "a new refresh token on every refresh (the old one dead after the grace) instead of Intuit's "
            "same value until it is `refresh_token_rotation_seconds` old"
        ),
    )
    refresh_token_rotation_seconds: int = Field(
        86_400, ge=1, description="intuit rotation: how long a refresh token's value is handed out again"
    )
    refresh_token_grace_seconds: int | None = Field(
        None,
        ge=0,
        description="how long a superseded refresh token still works; default 86400 (intuit) or 0 (strict)",
    )
    authorization_code_ttl_seconds: int = Field(300, ge=1)

    # Limits, per realm.
    rate_window_seconds: float = Field(60.0, gt=0)
    rate_window_mode: Literal["sliding", "fixed"] = "sliding"
    requests_per_window: int = Field(500, ge=1)
    batch_requests_per_window: int = Field(40, ge=1)
    max_concurrent: int = Field(10, ge=1)
    retry_after_seconds: int | None = Field(
        None, ge=1, description="send Retry-After on 429 (Intuit does not)"
    )

    # Faults.
    faults: FaultSettings = Field(default_factory=FaultSettings)

    # Webhooks.
    webhook_url: str | None = None
    verifier_token: str = Field(LOCAL_VERIFIER_TOKEN, min_length=1)
    webhook_format: Literal["legacy", "cloudevents"] = "legacy"
    webhook_batch_window_seconds: float = Field(60.0, ge=0, description="production aggregates 1-5 min")
    webhook_max_events_per_post: int = Field(100, ge=1)
    webhook_timeout_seconds: float = Field(3.0, gt=0)
    webhook_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(INTUIT_WEBHOOK_RETRY_SCHEDULE)
    )
    webhook_retry_compression: float = Field(
        1.0, gt=0, le=1.0, description="multiplies every retry delay, e.g. 0.001 turns 10 s into 10 ms"
    )
    webhook_void_verb: Literal["voided", "void"] = "voided"

    # Persistence.
    snapshot_path: str | None = None

    @field_validator("redirect_uris")
    @classmethod
    def _redirect_uris_are_absolute(cls, uris: list[str]) -> list[str]:
        for uri in uris:
            if not uri.startswith(("http://", "https://")) or "?" in uri or "#" in uri:
                raise ValueError(f"redirect URI must be absolute http(s) without query or fragment: {uri!r}")
        return uris

    @field_validator("webhook_url", "public_base_url")
    @classmethod
    def _urls_are_http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an absolute http(s) URL: {url!r}")
        return url

    @field_validator("webhook_retry_schedule_seconds")
    @classmethod
    def _schedule_is_usable(cls, schedule: list[float]) -> list[float]:
        if not schedule or any(delay < 0 for delay in schedule):
            raise ValueError("retry schedule needs at least one delay, none negative")
        return schedule

    @model_validator(mode="after")
    def _enough_company_names(self) -> SandboxConfig:
        names = list(self.company_names)
        while len(names) < self.realm_count:
            names.append(f"Sandbox Company {chr(ord('A') + len(names))}")
        self.company_names = names[: self.realm_count]
        return self

    @property
    def effective_refresh_grace_seconds(self) -> int:
        """The grace a superseded refresh token gets: the JsOAuth README's 24 h, or none when strict."""
        if self.refresh_token_grace_seconds is not None:
            return self.refresh_token_grace_seconds
        return 0 if self.strict_refresh_rotation else INTUIT_REFRESH_GRACE_SECONDS

    def webhook_delay(self, attempt: int) -> float:
        """Seconds to wait before delivery attempt number `attempt` (0-based), compressed."""
        schedule = self.webhook_retry_schedule_seconds
        delay = schedule[attempt] if attempt < len(schedule) else schedule[-1]
        return delay * self.webhook_retry_compression


def load_config(
    config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> SandboxConfig:
    """Defaults, then the JSON file, then explicit overrides (CLI flags win)."""
    data: dict[str, Any] = {}
    if config_file is not None:
        loaded = json.loads(Path(config_file).read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError("the config file must hold a JSON object")
        data.update(loaded)
    for key, value in (overrides or {}).items():
        if key in ("faults", "company_features") and isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    return SandboxConfig.model_validate(data)

"""Application-wide and per-tenant secrets that are not QBO tokens (those live in ``tokens``).

Values are read through an in-process cache with a max age (``SECRET_CACHE_SECONDS``, 300 s by default), as
a Lambda container would keep them, so a warm container picks up a rotated secret within that age; callers
that were refused with a value (Intuit's ``invalid_client``) read it again with ``fresh=True``. Values are
returned as ``SecretStr`` so that printing or logging a model never reveals them.

Powertools' ``SecretsProvider`` offers the same max-age cache; this one is kept because its clock is
injected, so expiry is tested without sleeping.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, SecretStr

from qbosync.errors import QbosyncError
from qbosync.settings import get_settings
from qbosync.source.config import SourceAdapterCredentials
from qbosync.store.aws import secrets_client
from qbosync.store.source_credentials import SOURCE_CREDENTIALS_SK, SourceCredentialsStore

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretMissing(QbosyncError):
    """A secret qbosync needs has not been provisioned: a deployment fault, never the caller's."""

    status = 500
    code = "secret_missing"


class IntuitApp(BaseModel):
    """The Intuit developer app qbosync runs as (a ``verifier_token`` stored here by older versions is
    ignored: it lives in its own secret, the only one the public QBO webhook may read)."""

    client_id: str
    client_secret: SecretStr


class SourceCredentials(SourceAdapterCredentials):
    """How qbosync calls one tenant's source system: the secrets of its adapter kind
    (``source.config.SECRETS_NEEDED``: ``api_key`` for the contract adapter; ``username``, ``password``,
    ``subscription_key`` for Rev.io). A stored ``{"api_key": ...}`` from older versions reads as the
    contract adapter's; a ``webhook_secret`` stored by older versions is ignored (webhook secrets are
    derived from the app's source webhook key, see ``SourceWebhookKey``)."""

    def sealable(self) -> dict[str, str]:
        """The JSON object sealed in the tenant's item: the fields that are set, revealed."""
        return {
            name: value.get_secret_value()
            for name in SourceAdapterCredentials.model_fields
            if isinstance(value := getattr(self, name), SecretStr)
        }


def derive_revio_receiver_token(app_key: str, tenant_id: str, version: int) -> str:
    """The unguessable last segment of a tenant's Rev.io receiver URL: HMAC-SHA256(app key, tenant and
    version), URL-safe. Rev.io's notifications are not signed, so knowing this URL is what lets a caller
    queue a re-read; it changes with the tenant's ``webhook_secret_version`` like its webhook secret."""
    message = f"qbosync-revio-receiver|{tenant_id}|v{version}".encode()
    digest = hmac.new(app_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret


def derive_source_webhook_secret(app_key: str, tenant_id: str, version: int) -> str:
    """A tenant's source webhook signing secret: HMAC-SHA256(app key, tenant and version), URL-safe.

    One app key serves every tenant, so the public webhook function reads that key alone; a tenant's
    secret changes when its ``webhook_secret_version`` does (a rotation), and no tenant can compute
    another's without the app key.
    """
    message = f"qbosync-source-webhook|{tenant_id}|v{version}".encode()
    digest = hmac.new(app_key.encode(), message, hashlib.sha256).digest()
    return WEBHOOK_SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


class SecretBox:
    """Reads and writes JSON secrets by name, with a time-limited read cache."""

    def __init__(
        self,
        client: SecretsManagerClient | None = None,
        *,
        max_age_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._max_age = max_age_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> SecretsManagerClient:
        return self._client or secrets_client()

    @property
    def max_age(self) -> float:
        return self._max_age if self._max_age is not None else get_settings().secret_cache_seconds

    def read(self, name: str, *, fresh: bool = False) -> dict[str, Any]:
        """The secret's JSON value; ``SecretMissing`` when it does not exist."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        if cached and not fresh and now - cached[0] < self.max_age:
            return cached[1]
        try:
            raw = self.client.get_secret_value(SecretId=name)["SecretString"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise SecretMissing(f"Secret '{name}' has not been provisioned.") from None
            raise
        value: dict[str, Any] = json.loads(raw)
        with self._lock:
            self._cache[name] = (now, value)
        return value

    def read_through(
        self, key: str, load: Callable[[], dict[str, Any] | None], *, fresh: bool = False
    ) -> dict[str, Any] | None:
        """``load()`` through the same max-age cache, for values kept outside Secrets Manager (the
        sealed source credentials); ``None`` (nothing stored) is not cached."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached and not fresh and now - cached[0] < self.max_age:
            return cached[1]
        value = load()
        if value is not None:
            self.remember(key, value)
        return value

    def remember(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._cache[key] = (self._clock(), value)

    def forget(self, key: str) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def exists(self, name: str) -> bool:
        """Whether the secret exists (read uncached)."""
        try:
            self.client.describe_secret(SecretId=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise
        return True

    def write(self, name: str, value: dict[str, Any]) -> None:
        """Create the secret, or store a new version of it."""
        payload = json.dumps(value)
        try:
            self.client.put_secret_value(SecretId=name, SecretString=payload)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            self.client.create_secret(Name=name, SecretString=payload)
        with self._lock:
            self._cache[name] = (self._clock(), value)

    def delete(self, name: str) -> None:
        """Delete the secret at once (no recovery window); deleting a missing one is not an error."""
        try:
            self.client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        with self._lock:
            self._cache.pop(name, None)


@functools.cache
def shared_secret_box() -> SecretBox:
    """One max-age cache for the whole container, for callers built per request (the QBO webhook's
    receiver), so a warm container does not read a secret on every request. ``wiring.reset()`` forgets it."""
    return SecretBox()


class AppSecrets:
    """The Intuit app's credentials, its webhook verifier token, the key that signs OAuth ``state``
    values, and the key source webhook secrets are derived from."""

    def __init__(self, box: SecretBox | None = None):
        self._box = box or SecretBox()

    def put_intuit_app(self, client_id: str, client_secret: str, verifier_token: str) -> None:
        """Store the client credentials and, in a secret of its own, the webhook verifier token."""
        settings = get_settings()
        self._box.write(
            settings.intuit_app_secret_name, {"client_id": client_id, "client_secret": client_secret}
        )
        self._box.write(settings.intuit_webhook_verifier_secret_name, {"verifier_token": verifier_token})

    def intuit_app(self, *, fresh: bool = False) -> IntuitApp:
        return IntuitApp.model_validate(self._box.read(get_settings().intuit_app_secret_name, fresh=fresh))

    def webhook_verifier_token(self, *, fresh: bool = False) -> SecretStr:
        """Intuit's webhook verifier token; ``SecretMissing`` until the operator has set the app."""
        name = get_settings().intuit_webhook_verifier_secret_name
        value = self._box.read(name, fresh=fresh).get("verifier_token")
        if not value:  # the stack creates the secret empty; `operator intuit-app` fills it
            raise SecretMissing(f"Secret '{name}' has no verifier_token yet.")
        return SecretStr(str(value))

    def put_source_webhook_key(self, key: str | None = None) -> None:
        """Store the app's source webhook key (a fresh random one when none is given)."""
        self._box.write(
            get_settings().source_webhook_key_secret_name, {"key": key or secrets.token_urlsafe(48)}
        )

    def source_webhook_key(self, *, fresh: bool = False) -> SecretStr:
        """The key every tenant's source webhook secret is derived from (the template generates it)."""
        return SecretStr(
            str(self._box.read(get_settings().source_webhook_key_secret_name, fresh=fresh)["key"])
        )

    def source_webhook_secret(self, tenant_id: str, version: int) -> SecretStr:
        """The tenant's source webhook signing secret at ``version``, derived from the app key."""
        key = self.source_webhook_key().get_secret_value()
        return SecretStr(derive_source_webhook_secret(key, tenant_id, version))

    def revio_receiver_token(self, tenant_id: str, version: int) -> SecretStr:
        """The path segment of the tenant's Rev.io receiver URL at ``version``, derived from the app key."""
        key = self.source_webhook_key().get_secret_value()
        return SecretStr(derive_revio_receiver_token(key, tenant_id, version))

    def intuit_client_credentials(self, *, fresh: bool = False) -> tuple[str, SecretStr]:
        """The app's client id and secret (a ``qbo.oauth.ClientCredentials`` provider)."""
        app = self.intuit_app(fresh=fresh)
        return app.client_id, app.client_secret

    def put_state_signing_key(self, key: str | None = None) -> None:
        """Store the state-signing key (a fresh random one when none is given)."""
        self._box.write(get_settings().state_signing_secret_name, {"key": key or secrets.token_urlsafe(48)})

    def state_signing_key(self, *, fresh: bool = False) -> SecretStr:
        return SecretStr(str(self._box.read(get_settings().state_signing_secret_name, fresh=fresh)["key"]))


class TenantSecrets:
    """Per-tenant source credentials (the API key; webhook secrets are derived, see ``AppSecrets``).

    They are sealed with KMS in the tenant's item (``store.source_credentials``), not in a secret of their
    own; reads go through the box's max-age cache. Older versions kept them in the secret
    ``tenants/{t}/source``: ``migrate_source_credentials`` moves it (the operator's
    ``migrate-source-credentials``)."""

    def __init__(self, box: SecretBox | None = None, store: SourceCredentialsStore | None = None):
        self._box = box or SecretBox()
        self._store = store or SourceCredentialsStore()

    @staticmethod
    def _cache_key(tenant_id: str) -> str:
        return f"{SOURCE_CREDENTIALS_SK}#{tenant_id}"

    def put_source_credentials(self, tenant_id: str, credentials: str | SourceCredentials) -> None:
        """Seal the tenant's credentials (an API key alone: the contract adapter's)."""
        if isinstance(credentials, str):
            credentials = SourceCredentials(api_key=SecretStr(credentials))
        value = credentials.sealable()
        self._store.put(tenant_id, value)
        self._box.remember(self._cache_key(tenant_id), value)

    def source_credentials(self, tenant_id: str, *, fresh: bool = False) -> SourceCredentials:
        """The tenant's credentials; ``SecretMissing`` when none are stored (not provisioned, or still in
        an unmigrated secret)."""
        value = self._box.read_through(
            self._cache_key(tenant_id), lambda: self._store.get(tenant_id), fresh=fresh
        )
        if value is None:
            raise SecretMissing(
                f"Tenant '{tenant_id}' has no source credentials: run `operator source-credentials`"
                " (or `operator migrate-source-credentials` after upgrading)."
            )
        return SourceCredentials.model_validate(value)

    def delete_source_credentials(self, tenant_id: str) -> None:
        """Delete the sealed credentials and any secret an older version left behind."""
        self._store.delete(tenant_id)
        self._box.forget(self._cache_key(tenant_id))
        self._box.delete(get_settings().tenant_source_secret_name(tenant_id))

    def migrate_source_credentials(self, tenant_id: str) -> bool:
        """Move credentials an older version kept in a secret into the sealed item, then delete the
        secret; ``False`` when there was no such secret. Credentials already sealed are kept (they were
        written later, by ``put_source_credentials``)."""
        name = get_settings().tenant_source_secret_name(tenant_id)
        if not self._box.exists(name):
            return False
        if not self._store.exists(tenant_id):
            legacy = SourceCredentials.model_validate(self._box.read(name, fresh=True))
            self._store.put(tenant_id, legacy.sealable())
        self._box.delete(name)
        self._box.forget(self._cache_key(tenant_id))
        return True

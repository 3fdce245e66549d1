"""The token vault: one tenant's QBO tokens in Secrets Manager, refreshed once at a time per realm.

Why the refresh is built this way:
- Intuit rotates the refresh token; losing the new one strands the connection. So the new tokens are
  written to Secrets Manager (version + 1, previous refresh token kept) *before* the new access token is
  handed to anyone.
- Many Lambdas may find the token expired at once. A DynamoDB lock item (``REALM#{realm}/REFRESH_LOCK``,
  conditional put, expiring after ``lock_seconds``) lets one of them refresh; after taking the lock it
  re-reads the secret, and when the version moved on, someone else already refreshed. The others poll the
  secret (bounded, with the injected ``sleep``) until its version changes.
- ``invalid_grant`` marks the connection ``needs_reauth``; from then on the vault raises
  ``ReauthRequired`` without calling Intuit, so a dead grant is never retried in a loop.

Reads are cached in-process for ``settings.secret_cache_seconds`` (capped at the access token's life).
Powertools Parameters' ``get_secret`` was the first choice, but its module-level ``get_secret`` ignores an
injected client, its cache runs on the wall clock (no injectable clock, so expiry could only be tested by
sleeping) and after our own write we must replace exactly one entry; a 30-line TTL cache does all three.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from qbosync.clock import utc_now
from qbosync.errors import NotConnected, UpstreamUnavailable
from qbosync.observability import logger
from qbosync.settings import Settings, get_settings
from qbosync.store.aws import secrets_client
from qbosync.store.connections import ConnectionNotFound, ConnectionRepository
from qbosync.store.table import (
    REFRESH_LOCK_SK,
    Condition,
    ConditionFailed,
    MainTable,
    StoreUnavailable,
    realm_pk,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# --- the boundary with qbo.oauth -----------------------------------------------------------------------


class RefreshedTokens(Protocol):
    """The minimum a token grant must offer (Intuit's field names; ``qbo.oauth.TokenGrant`` fits)."""

    @property
    def access_token(self) -> str | SecretStr: ...
    @property
    def refresh_token(self) -> str | SecretStr: ...
    @property
    def expires_in(self) -> int: ...  # seconds the access token lives
    @property
    def x_refresh_token_expires_in(self) -> int | None: ...  # seconds the refresh token lives


class TokenRefresher(Protocol):
    """Exchanges a refresh token for new tokens; raises one of the vault's ``invalid_grant_errors``."""

    def refresh(self, refresh_token: str) -> RefreshedTokens: ...


class InvalidGrant(Exception):
    """The refresh token was refused for good (OAuth ``invalid_grant``).

    ``qbo.oauth`` may raise its own type instead: pass it in ``invalid_grant_errors``.
    """


# --- errors --------------------------------------------------------------------------------------------


class ReauthRequired(NotConnected):
    """The grant is dead: an admin has to connect QuickBooks again."""

    code = "needs_reauth"


class TokenRefreshTimedOut(UpstreamUnavailable):
    """Another process held the refresh lock and no new tokens appeared in time."""

    code = "token_refresh_timed_out"


class TokenWriteConflict(UpstreamUnavailable):
    """Someone stored the same token version with different content (a lock lease ran out mid-refresh)."""

    code = "token_write_conflict"


# --- stored shape and cache ----------------------------------------------------------------------------


class StoredTokens(BaseModel):
    """The secret's JSON (docs/architecture.md); tokens are SecretStr, so repr and logs never show them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    realm_id: str
    access_token: SecretStr
    access_token_expires_at: datetime
    refresh_token: SecretStr
    refresh_token_expires_at: datetime | None = None
    previous_refresh_token: SecretStr | None = None
    version: int = 1
    refreshed_at: datetime

    def to_secret_string(self) -> str:
        def reveal(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return json.dumps(
            {
                "realm_id": self.realm_id,
                "access_token": reveal(self.access_token),
                "access_token_expires_at": iso(self.access_token_expires_at),
                "refresh_token": reveal(self.refresh_token),
                "refresh_token_expires_at": iso(self.refresh_token_expires_at),
                "previous_refresh_token": reveal(self.previous_refresh_token),
                "version": self.version,
                "refreshed_at": iso(self.refreshed_at),
            }
        )


@dataclass(frozen=True)
class _CacheEntry:
    tokens: StoredTokens
    fresh_until: float  # on the vault's clock, epoch seconds


class TokenCache:
    """A tiny thread-safe TTL cache of stored tokens by secret name (one per process by default)."""

    def __init__(self) -> None:
        self._entries: dict[str, _CacheEntry] = {}
        self._lock = threading.Lock()

    def get(self, name: str, now: float) -> StoredTokens | None:
        with self._lock:
            entry = self._entries.get(name)
        return entry.tokens if entry is not None and now < entry.fresh_until else None

    def put(self, name: str, tokens: StoredTokens, fresh_until: float, now: float) -> None:
        """Cache ``tokens`` unless a newer version is cached and still fresh (a slow reader never wins)."""
        with self._lock:
            current = self._entries.get(name)
            if current is None or now >= current.fresh_until or current.tokens.version <= tokens.version:
                self._entries[name] = _CacheEntry(tokens, fresh_until)

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_PROCESS_CACHE = TokenCache()


def clear_token_cache() -> None:
    """Forget every cached token (tests, or after switching AWS backends)."""
    _PROCESS_CACHE.clear()


def _secret(value: str | SecretStr) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


def _lifetime(seconds: int | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds else None


# --- the vault -----------------------------------------------------------------------------------------


class TokenVault:
    """One tenant's QBO tokens: implements ``AccessTokenProvider`` for ``qbo.client``."""

    def __init__(
        self,
        tenant_id: str,
        *,
        refresher: TokenRefresher,
        connections: ConnectionRepository | None = None,
        secrets: SecretsManagerClient | None = None,
        table: MainTable | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        settings: Settings | None = None,
        cache: TokenCache | None = None,
        invalid_grant_errors: tuple[type[Exception], ...] = (InvalidGrant,),
        refresh_margin: timedelta = timedelta(minutes=5),
        lock_seconds: float = 30.0,
        poll_seconds: float = 0.2,
        wait_seconds: float | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self._refresher = refresher
        self._table = table or MainTable()
        self._connections = connections or ConnectionRepository(self._table)
        self._secrets = secrets
        self._clock = clock
        self._sleep = sleep
        self._settings = settings
        self._cache = cache if cache is not None else _PROCESS_CACHE
        self._invalid_grant_errors = invalid_grant_errors
        self._refresh_margin = refresh_margin
        self._lock_seconds = lock_seconds
        self._poll_seconds = poll_seconds
        # A waiter outlasts one full lock lease, so a crashed holder's lock expires before it gives up.
        self._wait_seconds = wait_seconds if wait_seconds is not None else lock_seconds + 5.0

    # -- AccessTokenProvider --

    def access_token(self) -> str:
        """An access token valid for at least ``refresh_margin``, refreshing (once per realm) if needed."""
        tokens = self.read()
        if not self._due(tokens):
            return tokens.access_token.get_secret_value()
        return self._refresh(seen_version=tokens.version).access_token.get_secret_value()

    def refresh_after_unauthorized(self, rejected: str) -> str:
        """QBO said 401 to ``rejected``: refresh unless someone already replaced that token."""
        tokens = self.read(fresh=True)
        current = tokens.access_token.get_secret_value()
        if current != rejected and not self._due(tokens):
            return current
        return self._refresh(seen_version=tokens.version).access_token.get_secret_value()

    # -- lifecycle --

    def store_initial(self, realm_id: str, grant: RefreshedTokens) -> None:
        """Store the tokens of a new connection (creates the secret, or replaces the value of a reconnect)."""
        now = self._clock()
        try:
            previous_version = self.read(fresh=True).version
        except NotConnected:
            previous_version = 0
        tokens = self._tokens_from_grant(realm_id, grant, now, version=previous_version + 1, previous=None)
        self._write(tokens, create=previous_version == 0)
        logger.info(
            "stored qbo tokens",
            extra={"tenant_id": self.tenant_id, "realm_id": realm_id, "version": tokens.version},
        )

    def current_refresh_token(self) -> str | None:
        """The stored refresh token (to revoke it on disconnect); ``None`` when no tokens are stored."""
        try:
            return self.read(fresh=True).refresh_token.get_secret_value()
        except NotConnected:
            return None

    def delete(self) -> None:
        """Forget the tokens for good (disconnect): no recovery window, a revoked grant is worth nothing."""
        name = self._secret_name
        self._cache.forget(name)
        try:
            self._secrets_client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise StoreUnavailable("could not delete the tenant's QBO tokens") from exc
        logger.info("deleted qbo tokens", extra={"tenant_id": self.tenant_id})

    def read(self, *, fresh: bool = False) -> StoredTokens:
        """The stored tokens, from the short-lived cache unless ``fresh``; ``NotConnected`` when none."""
        name = self._secret_name
        now = self._clock().timestamp()
        if not fresh:
            cached = self._cache.get(name, now)
            if cached is not None:
                return cached
        try:
            response = self._secrets_client.get_secret_value(SecretId=name)
        except ClientError as exc:
            if _error_code(exc) in {"ResourceNotFoundException", "InvalidRequestException"}:
                raise NotConnected("QuickBooks is not connected for this tenant") from exc
            raise StoreUnavailable("could not read the tenant's QBO tokens") from exc
        try:
            tokens = StoredTokens.model_validate_json(response["SecretString"])
        except ValidationError:
            # pydantic's message would quote the secret's content: report only that it is malformed.
            raise StoreUnavailable("the tenant's stored QBO tokens are malformed") from None
        self._remember(tokens, now)
        return tokens

    # -- internals --

    @property
    def _resolved_settings(self) -> Settings:
        if self._settings is None:
            self._settings = get_settings()
        return self._settings

    @property
    def _secret_name(self) -> str:
        return self._resolved_settings.tenant_token_secret_name(self.tenant_id)

    @property
    def _secrets_client(self) -> SecretsManagerClient:
        if self._secrets is None:
            self._secrets = secrets_client()
        return self._secrets

    def _due(self, tokens: StoredTokens) -> bool:
        """True when the access token has less than ``refresh_margin`` left."""
        return tokens.access_token_expires_at - self._clock() <= self._refresh_margin

    def _remember(self, tokens: StoredTokens, now: float) -> None:
        # Never cache past the point where the token needs refreshing anyway.
        ttl_end = now + self._resolved_settings.secret_cache_seconds
        refresh_due = (tokens.access_token_expires_at - self._refresh_margin).timestamp()
        self._cache.put(self._secret_name, tokens, min(ttl_end, max(refresh_due, now)), now)

    def _tokens_from_grant(
        self,
        realm_id: str,
        grant: RefreshedTokens,
        now: datetime,
        *,
        version: int,
        previous: SecretStr | None,
    ) -> StoredTokens:
        refresh_life = _lifetime(grant.x_refresh_token_expires_in)
        return StoredTokens(
            realm_id=realm_id,
            access_token=_secret(grant.access_token),
            access_token_expires_at=now + timedelta(seconds=grant.expires_in),
            refresh_token=_secret(grant.refresh_token),
            refresh_token_expires_at=now + refresh_life if refresh_life else None,
            previous_refresh_token=previous,
            version=version,
            refreshed_at=now,
        )

    def _write(self, tokens: StoredTokens, *, create: bool) -> None:
        name = self._secret_name
        # One request token per version: a second writer of the same version is refused, not silently applied.
        request_token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"qbosync:{name}#{tokens.version}"))
        client = self._secrets_client
        try:
            if create:
                try:
                    client.create_secret(
                        Name=name, SecretString=tokens.to_secret_string(), ClientRequestToken=request_token
                    )
                except ClientError as exc:
                    if _error_code(exc) != "ResourceExistsException":
                        raise
                    client.put_secret_value(
                        SecretId=name,
                        SecretString=tokens.to_secret_string(),
                        ClientRequestToken=request_token,
                    )
            else:
                client.put_secret_value(
                    SecretId=name, SecretString=tokens.to_secret_string(), ClientRequestToken=request_token
                )
        except ClientError as exc:
            if _error_code(exc) == "ResourceExistsException":
                raise TokenWriteConflict("another process stored this token version first") from exc
            raise StoreUnavailable("could not store the tenant's QBO tokens") from exc
        self._remember(tokens, self._clock().timestamp())

    def _ensure_not_needing_reauth(self) -> None:
        connection = self._connections.get(self.tenant_id)
        if connection is not None and connection.status == "needs_reauth":
            raise ReauthRequired("QuickBooks needs to be connected again for this tenant")
        if connection is not None and connection.status == "disconnected":
            raise NotConnected("QuickBooks is not connected for this tenant")

    def _refresh(self, *, seen_version: int) -> StoredTokens:
        self._ensure_not_needing_reauth()
        realm_id = self.read().realm_id
        holder = uuid.uuid4().hex
        deadline = self._clock() + timedelta(seconds=self._wait_seconds)
        while True:
            if self._try_lock(realm_id, holder):
                try:
                    return self._refresh_holding_lock(realm_id, seen_version)
                finally:
                    self._release_lock(realm_id, holder)
            self._sleep(self._poll_seconds)
            current = self.read(fresh=True)
            if current.version > seen_version:
                return current
            if self._clock() >= deadline:
                logger.warning("token refresh wait timed out", extra={"tenant_id": self.tenant_id})
                raise TokenRefreshTimedOut("QBO tokens are being refreshed elsewhere; try again shortly")

    def _refresh_holding_lock(self, realm_id: str, seen_version: int) -> StoredTokens:
        current = self.read(fresh=True)
        if current.version > seen_version and not self._due(current):
            return current  # another process refreshed while we waited for the lock
        self._ensure_not_needing_reauth()
        try:
            grant = self._refresher.refresh(current.refresh_token.get_secret_value())
        except self._invalid_grant_errors as exc:
            reason = f"invalid_grant: the refresh token was refused ({type(exc).__name__})"
            try:
                self._connections.mark_needs_reauth(self.tenant_id, reason, self._clock())
            except ConnectionNotFound:  # no active connection record to mark; the grant is dead all the same
                logger.warning(
                    "invalid grant without an active connection", extra={"tenant_id": self.tenant_id}
                )
            raise ReauthRequired("QuickBooks refused the stored grant; connect again") from None
        now = self._clock()
        refreshed = self._tokens_from_grant(
            realm_id, grant, now, version=current.version + 1, previous=current.refresh_token
        )
        self._write(refreshed, create=False)  # stored before anyone uses the new access token
        logger.info(
            "refreshed qbo tokens",
            extra={"tenant_id": self.tenant_id, "realm_id": realm_id, "version": refreshed.version},
        )
        try:
            self._connections.record_refresh(self.tenant_id, now, refreshed.refresh_token_expires_at)
        except ConnectionNotFound:  # tokens without a connection record: keep the tokens anyway
            logger.warning(
                "refreshed tokens of an unrecorded connection", extra={"tenant_id": self.tenant_id}
            )
        return refreshed

    def _try_lock(self, realm_id: str, holder: str) -> bool:
        now = self._clock().timestamp()
        try:
            self._table.put(
                {
                    "pk": realm_pk(realm_id),
                    "sk": REFRESH_LOCK_SK,
                    "item_type": "refresh_lock",
                    "holder": holder,
                    "tenant_id": self.tenant_id,
                    "lock_expires_at": now + self._lock_seconds,
                    "expires_at": int(now + self._lock_seconds) + 3600,
                },
                condition=Condition(
                    "attribute_not_exists(pk) OR lock_expires_at < :now", values={":now": now}
                ),
            )
        except ConditionFailed:
            return False
        return True

    def _release_lock(self, realm_id: str, holder: str) -> None:
        try:
            self._table.delete(
                realm_pk(realm_id), REFRESH_LOCK_SK, condition=Condition("holder = :h", values={":h": holder})
            )
        except ConditionFailed:
            # Our lease ran out and someone else holds the lock now: theirs to release.
            logger.warning("refresh lock lost before release", extra={"tenant_id": self.tenant_id})


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))

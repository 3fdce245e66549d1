"""The token vault: one tenant's QBO tokens in Secrets Manager, refreshed once at a time per realm.

Over 400 lines on purpose: the promises below interlock (the lock's lease bounds the refresh, the
refresh bounds the two stores, the reauth mark is fenced by the stored version), so the vault that keeps
them is read as one state machine; the sealed copy's storage already lives in ``store.token_backup``.

What it promises (README, "Tokens"), and how:
- **A grant Intuit returned is durable before the vault returns it or releases the lock.** Intuit rotates
  the refresh token; the only copy of the new one is in its answer. The vault stores two copies: first a
  KMS-sealed copy in the main table (``store.token_backup``, fenced by version), then the secret, each
  retried with backoff inside ``TokenRefreshBudget.store_budget_seconds``. Either copy is enough; a fresh
  read takes the newer of the two, so a refresh after a Secrets Manager outage recovers the rotated token.
- **One writer per token version.** The sealed copy is written with a condition (no copy of this version
  or later), and the secret with a client request token per version; a writer that loses either adopts
  what the winner stored instead of failing.
- **One refresh at a time per realm.** A DynamoDB lock item (``REALM#{realm}/REFRESH_LOCK``) whose lease
  (``lock_lease_seconds``) outlasts the longest refresh (bounded Intuit timeouts plus the bounded store:
  the settings validator refuses anything else). An expired lease is taken over by compare-and-swap on its
  holder. Others poll (bounded, with the injected ``sleep``) until a newer version appears.
- **Never a refresh without time to finish it.** With a ``remaining_time`` provider (passed in, or the one
  a handler decorated with ``qbosync.invocation.tracks_remaining_time`` publishes), a refresh that could
  outlive the invocation is refused up front with ``TokenRefreshDeferred``.
- **``invalid_grant`` marks ``needs_reauth`` only for the latest token.** The vault re-reads first; a newer
  version is used instead. The mark itself is conditional on the refused version still being the latest
  stored copy, and a later store of a newer version clears a mark made for an older one. From then on the
  vault raises ``ReauthRequired`` without calling Intuit, so a dead grant is never retried in a loop.

Reads are cached in-process for ``settings.secret_cache_seconds`` (capped at the access token's life).
Powertools Parameters' ``get_secret`` was the first choice, but its module-level ``get_secret`` ignores an
injected client, its cache runs on the wall clock (no injectable clock, so expiry could only be tested by
sleeping) and after our own write we must replace exactly one entry; a 30-line TTL cache does all three.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from qbosync.clock import utc_now
from qbosync.errors import NotConnected, UpstreamUnavailable
from qbosync.invocation import remaining_time_provider
from qbosync.observability import logger
from qbosync.settings import Settings, TokenRefreshBudget, get_settings, get_token_refresh_budget
from qbosync.store.aws import bounded_dynamodb_client, bounded_secrets_client
from qbosync.store.connections import ConnectionNotFound, ConnectionRepository, RefusedTokenSuperseded
from qbosync.store.table import (
    REFRESH_LOCK_SK,
    Condition,
    ConditionFailed,
    MainTable,
    StoreUnavailable,
    realm_pk,
)
from qbosync.store.token_backup import SealingUnavailable, TokenBackup, TokenBackupStore, VersionFenced

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
    """Another writer stored this token version first, and its tokens could not be read back."""

    code = "token_write_conflict"


class TokenRefreshDeferred(UpstreamUnavailable):
    """Too little time is left in this invocation to finish a refresh; a later one will do it."""

    status = 503
    code = "token_refresh_deferred"


class _SecretVersionTaken(Exception):
    """Secrets Manager already holds this version with other content (its client request token is taken)."""


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


# --- bounded work ----------------------------------------------------------------------------------------

_TRANSIENT_AWS_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "ProvisionedThroughputExceededException",
        "KMSInternalException",
        "DependencyTimeoutException",
    }
)


class _StoreBudget:
    """Worst-case seconds left for storing one grant, charged per attempt before it starts.

    Each AWS attempt is charged its bound (connect + read timeout, no SDK retries) and each backoff its
    length, whatever they really take, so the store provably ends within the budget on any clock.
    """

    def __init__(self, budget: TokenRefreshBudget) -> None:
        self._left = budget.store_budget_seconds
        self._attempt = budget.aws_attempt_worst_seconds
        self._backoff = budget.store_backoff_seconds

    def take_attempt(self) -> bool:
        if self._left < self._attempt:
            return False
        self._left -= self._attempt
        return True

    def take_backoff(self, retry: int) -> float | None:
        """The wait before retry number ``retry`` (1, 2, ...), or None when no attempt would fit after it."""
        wait: float = self._backoff * 2.0 ** (retry - 1)
        if self._left < wait + self._attempt:
            return None
        self._left -= wait
        return wait


@dataclass(frozen=True)
class _Lease:
    holder: str
    took_over: bool  # the previous holder's lease had run out: its refresh may still land


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
        backup: TokenBackupStore | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        settings: Settings | None = None,
        budget: TokenRefreshBudget | None = None,
        remaining_time: Callable[[], float] | None = None,
        cache: TokenCache | None = None,
        invalid_grant_errors: tuple[type[Exception], ...] = (InvalidGrant,),
        refresh_margin: timedelta = timedelta(minutes=5),
        poll_seconds: float = 0.2,
        wait_seconds: float | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self._refresher = refresher
        self._table = table or MainTable(bounded_dynamodb_client())
        self._connections = connections or ConnectionRepository(self._table)
        self._backup = backup or TokenBackupStore(self._table)
        self._secrets = secrets
        self._clock = clock
        self._sleep = sleep
        self._settings = settings
        self._budget = budget or get_token_refresh_budget()
        self._remaining_time = remaining_time
        self._cache = cache if cache is not None else _PROCESS_CACHE
        self._invalid_grant_errors = invalid_grant_errors
        self._refresh_margin = refresh_margin
        self._lock_seconds = self._budget.lock_lease_seconds
        self._poll_seconds = poll_seconds
        # A waiter outlasts one full lock lease, so a crashed holder's lock expires before it gives up.
        self._wait_seconds = wait_seconds if wait_seconds is not None else self._lock_seconds + 5.0

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
            secret_version = self._read_secret().version
        except NotConnected:
            secret_version = 0
        copy = self._read_backup()
        previous_version = max(secret_version, copy.version if copy is not None else 0)
        tokens = self._tokens_from_grant(realm_id, grant, now, version=previous_version + 1, previous=None)
        budget = _StoreBudget(self._budget)
        # A new grant from the admin supersedes every stored version: the copy is written unfenced.
        copied = self._store_copy(tokens, budget, fenced=False)
        stored = self._store_secret(tokens, budget, create=secret_version == 0)
        if not (copied or stored):
            raise StoreUnavailable("could not store the tenant's QBO tokens")
        self._remember(tokens, self._clock().timestamp())
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
        self._backup.delete(self.tenant_id)
        logger.info("deleted qbo tokens", extra={"tenant_id": self.tenant_id})

    def read(self, *, fresh: bool = False) -> StoredTokens:
        """The stored tokens, from the short-lived cache unless ``fresh``; ``NotConnected`` when none.

        A fresh read takes the newer of the secret and the sealed copy, so tokens stored only in the copy
        (Secrets Manager refused them) are found by every process.
        """
        now = self._clock().timestamp()
        if not fresh:
            cached = self._cache.get(self._secret_name, now)
            if cached is not None:
                return cached
        secret: StoredTokens | None = None
        unreadable: NotConnected | StoreUnavailable | None = None
        try:
            secret = self._read_secret()
        except (NotConnected, StoreUnavailable) as exc:
            unreadable = exc
        copy = self._read_backup()
        tokens = secret
        if copy is not None and (secret is None or copy.version > secret.version):
            tokens = self._open_copy(copy) or secret
        if tokens is None:
            raise unreadable or StoreUnavailable("the tenant's QBO tokens could not be read")
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
            self._secrets = bounded_secrets_client()
        return self._secrets

    def _read_secret(self) -> StoredTokens:
        try:
            response = self._secrets_client.get_secret_value(SecretId=self._secret_name)
        except ClientError as exc:
            if _error_code(exc) in {"ResourceNotFoundException", "InvalidRequestException"}:
                raise NotConnected("QuickBooks is not connected for this tenant") from exc
            raise StoreUnavailable("could not read the tenant's QBO tokens") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable("could not read the tenant's QBO tokens") from exc
        try:
            return StoredTokens.model_validate_json(response["SecretString"])
        except ValidationError:
            # pydantic's message would quote the secret's content: report only that it is malformed.
            raise StoreUnavailable("the tenant's stored QBO tokens are malformed") from None

    def _read_backup(self) -> TokenBackup | None:
        try:
            return self._backup.get(self.tenant_id)
        except (StoreUnavailable, BotoCoreError):
            logger.warning("token copy unreadable", extra={"tenant_id": self.tenant_id})
            return None

    def _open_copy(self, copy: TokenBackup) -> StoredTokens | None:
        try:
            opened = StoredTokens.model_validate_json(self._backup.open(self.tenant_id, copy.sealed))
        except (SealingUnavailable, ValidationError):
            logger.error(
                "newer token copy could not be opened",
                extra={"tenant_id": self.tenant_id, "version": copy.version},
            )
            return None
        logger.info(
            "tokens read from the sealed copy", extra={"tenant_id": self.tenant_id, "version": copy.version}
        )
        return opened

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

    def _retrying(self, what: str, attempt: Callable[[], None], budget: _StoreBudget) -> bool:
        """Run ``attempt`` until it succeeds or the budget is spent; True when it succeeded.

        Only transient failures are retried; fencing errors and permanent refusals propagate or end it.
        """
        retry = 0
        while budget.take_attempt():
            try:
                attempt()
                return True
            except (VersionFenced, _SecretVersionTaken):
                raise
            except SealingUnavailable as exc:
                if not exc.transient:
                    logger.error(f"{what} failed for good", extra={"tenant_id": self.tenant_id})
                    return False
            except ClientError as exc:
                if _error_code(exc) not in _TRANSIENT_AWS_CODES:
                    logger.error(
                        f"{what} refused", extra={"tenant_id": self.tenant_id, "aws_error": _error_code(exc)}
                    )
                    return False
            except (StoreUnavailable, BotoCoreError):
                pass
            retry += 1
            wait = budget.take_backoff(retry)
            if wait is None:
                break
            logger.warning(f"{what} failed; retrying", extra={"tenant_id": self.tenant_id, "retry": retry})
            self._sleep(wait)
        logger.error(f"{what} gave up within its budget", extra={"tenant_id": self.tenant_id})
        return False

    def _store_copy(self, tokens: StoredTokens, budget: _StoreBudget, *, fenced: bool) -> bool:
        """Seal and store the second copy; raises ``VersionFenced`` when a writer of this version won."""
        sealed: list[str] = []

        def seal() -> None:
            sealed.append(self._backup.seal(self.tenant_id, tokens.to_secret_string()))

        if not self._retrying("sealing the token copy", seal, budget):
            return False
        copy = TokenBackup(
            version=tokens.version, realm_id=tokens.realm_id, sealed=sealed[0], written_at=self._clock()
        )
        return self._retrying(
            "storing the token copy", lambda: self._backup.put(self.tenant_id, copy, fenced=fenced), budget
        )

    def _store_secret(self, tokens: StoredTokens, budget: _StoreBudget, *, create: bool = False) -> bool:
        """Store the secret; raises ``_SecretVersionTaken`` when another writer stored this version first."""
        name = self._secret_name
        # One request token per version: a second writer of the same version is refused, not silently applied.
        request_token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"qbosync:{name}#{tokens.version}"))
        value = tokens.to_secret_string()
        client = self._secrets_client

        def put() -> None:
            try:
                if create:
                    try:
                        client.create_secret(Name=name, SecretString=value, ClientRequestToken=request_token)
                        return
                    except ClientError as exc:
                        if _error_code(exc) != "ResourceExistsException":
                            raise
                client.put_secret_value(SecretId=name, SecretString=value, ClientRequestToken=request_token)
            except ClientError as exc:
                if _error_code(exc) == "ResourceExistsException":
                    raise _SecretVersionTaken() from None
                raise

        return self._retrying("storing the token secret", put, budget)

    def _ensure_not_needing_reauth(self) -> None:
        connection = self._connections.get(self.tenant_id)
        if connection is not None and connection.status == "needs_reauth":
            raise ReauthRequired("QuickBooks needs to be connected again for this tenant")
        if connection is not None and connection.status == "disconnected":
            raise NotConnected("QuickBooks is not connected for this tenant")

    def _ensure_time_to_refresh(self) -> None:
        """Refuse to start what the invocation could cut off between Intuit's answer and the store."""
        remaining_time = self._remaining_time or remaining_time_provider()
        if remaining_time is None:
            return
        left = remaining_time()
        needed = self._budget.refresh_worst_seconds
        if left < needed:
            logger.warning(
                "token refresh deferred: not enough time left",
                extra={"tenant_id": self.tenant_id, "seconds_left": round(left, 3), "seconds_needed": needed},
            )
            raise TokenRefreshDeferred(
                f"a token refresh needs {needed:g} s and this invocation has {left:.1f} s left; retry later"
            )

    def _refresh(self, *, seen_version: int) -> StoredTokens:
        self._ensure_not_needing_reauth()
        self._ensure_time_to_refresh()
        realm_id = self.read().realm_id
        holder = uuid.uuid4().hex
        wait_seconds = self._wait_seconds
        remaining_time = self._remaining_time or remaining_time_provider()
        if remaining_time is not None:  # give up waiting before the invocation is cut off
            wait_seconds = min(wait_seconds, remaining_time() - self._budget.safety_margin_seconds)
        deadline = self._clock() + timedelta(seconds=wait_seconds)
        polls_left = max(1, math.ceil(wait_seconds / self._poll_seconds))
        while True:
            lease = self._try_lock(realm_id, holder)
            if lease is not None:
                try:
                    return self._refresh_holding_lock(realm_id, seen_version, lease)
                finally:
                    self._release_lock(realm_id, holder)
            self._sleep(self._poll_seconds)
            polls_left -= 1
            current = self.read(fresh=True)
            if current.version > seen_version:
                return current
            if self._clock() >= deadline or polls_left <= 0:
                logger.warning("token refresh wait timed out", extra={"tenant_id": self.tenant_id})
                raise TokenRefreshTimedOut("QBO tokens are being refreshed elsewhere; try again shortly")

    def _refresh_holding_lock(self, realm_id: str, seen_version: int, lease: _Lease) -> StoredTokens:
        current = self.read(fresh=True)
        if current.version > seen_version and not self._due(current):
            return current  # another process refreshed while we waited for the lock
        self._ensure_not_needing_reauth()
        self._ensure_time_to_refresh()
        try:
            grant = self._refresher.refresh(current.refresh_token.get_secret_value())
        except self._invalid_grant_errors as exc:
            return self._after_invalid_grant(current, lease, type(exc).__name__)
        refreshed = self._tokens_from_grant(
            realm_id, grant, self._clock(), version=current.version + 1, previous=current.refresh_token
        )
        return self._store_refreshed(refreshed)

    def _store_refreshed(self, refreshed: StoredTokens) -> StoredTokens:
        """Make the new grant durable (copy, then secret) before anyone uses the new access token."""
        budget = _StoreBudget(self._budget)
        try:
            copied = self._store_copy(refreshed, budget, fenced=True)
            stored = self._store_secret(refreshed, budget)
        except (VersionFenced, _SecretVersionTaken):
            # Two writers for one version: only possible when a lease ran out mid-refresh. The first one
            # stored wins; this grant is dropped and the stored one used, so every caller agrees.
            logger.warning(
                "another process stored this token version first; using its tokens",
                extra={"tenant_id": self.tenant_id, "version": refreshed.version},
            )
            return self._adopt_stored(refreshed.version)
        if not (copied or stored):
            raise StoreUnavailable("could not store the tenant's new QBO tokens")
        now = self._clock()
        self._remember(refreshed, now.timestamp())
        logger.info(
            "refreshed qbo tokens",
            extra={
                "tenant_id": self.tenant_id,
                "realm_id": refreshed.realm_id,
                "version": refreshed.version,
                "in_secret": stored,
                "in_copy": copied,
            },
        )
        self._note_refresh(refreshed, now)
        return refreshed

    def _note_refresh(self, refreshed: StoredTokens, now: datetime) -> None:
        """Bookkeeping after a durable store; the tokens are safe whatever happens here."""
        try:
            self._connections.record_refresh(self.tenant_id, now, refreshed.refresh_token_expires_at)
            self._connections.clear_superseded_needs_reauth(self.tenant_id, refreshed.version, now)
        except ConnectionNotFound:  # tokens without a connection record: keep the tokens anyway
            logger.warning(
                "refreshed tokens of an unrecorded connection", extra={"tenant_id": self.tenant_id}
            )
        except (StoreUnavailable, ConditionFailed, BotoCoreError):
            logger.warning(
                "could not note the refresh on the connection", extra={"tenant_id": self.tenant_id}
            )

    def _adopt_stored(self, version: int) -> StoredTokens:
        stored = self.read(fresh=True)
        if stored.version < version:
            raise TokenWriteConflict("another process stored this token version, and it cannot be read yet")
        return stored

    def _after_invalid_grant(self, refused: StoredTokens, lease: _Lease, error_type: str) -> StoredTokens:
        """Intuit refused ``refused``: use a newer version if one appears, else mark ``needs_reauth``."""
        # After taking over an expired lease, the previous holder may still store the grant that
        # superseded the refused token: wait up to one lease for it (never past this invocation's end).
        wait = self._lock_seconds if lease.took_over else 0.0
        remaining_time = self._remaining_time or remaining_time_provider()
        if remaining_time is not None:
            wait = max(0.0, min(wait, remaining_time() - self._budget.safety_margin_seconds))
        until = self._clock() + timedelta(seconds=wait)
        polls_left = math.ceil(wait / self._poll_seconds)
        while True:
            latest = self.read(fresh=True)
            if latest.version > refused.version:
                logger.info(
                    "refused token was already superseded; using the newer one",
                    extra={"tenant_id": self.tenant_id, "version": latest.version},
                )
                return latest
            if polls_left <= 0 or self._clock() >= until:
                break
            polls_left -= 1
            self._sleep(self._poll_seconds)
        reason = f"invalid_grant: the refresh token was refused ({error_type})"
        try:
            self._connections.mark_needs_reauth(
                self.tenant_id, reason, self._clock(), refused_version=refused.version
            )
        except RefusedTokenSuperseded:
            latest = self.read(fresh=True)
            if latest.version > refused.version:
                return latest
        except ConnectionNotFound:  # no active connection record to mark; the grant is dead all the same
            logger.warning("invalid grant without an active connection", extra={"tenant_id": self.tenant_id})
        raise ReauthRequired("QuickBooks refused the stored grant; connect again") from None

    def _try_lock(self, realm_id: str, holder: str) -> _Lease | None:
        now = self._clock().timestamp()
        existing = self._table.get(realm_pk(realm_id), REFRESH_LOCK_SK)
        if existing is not None and float(existing.get("lock_expires_at", 0)) > now:
            return None
        if existing is None:
            condition = Condition("attribute_not_exists(pk)")
        else:
            # Compare-and-swap on the expired holder: of two processes taking over, one wins.
            condition = Condition(
                "holder = :previous AND lock_expires_at <= :now",
                values={":previous": existing.get("holder", ""), ":now": now},
            )
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
                condition=condition,
            )
        except ConditionFailed:
            return None
        return _Lease(holder=holder, took_over=existing is not None)

    def _release_lock(self, realm_id: str, holder: str) -> None:
        try:
            self._table.delete(
                realm_pk(realm_id), REFRESH_LOCK_SK, condition=Condition("holder = :h", values={":h": holder})
            )
        except ConditionFailed:
            # Our lease ran out and someone else holds the lock now: theirs to release.
            logger.warning("refresh lock lost before release", extra={"tenant_id": self.tenant_id})
        except StoreUnavailable:
            # The lease expires by itself; the tokens are already stored.
            logger.warning("refresh lock not released", extra={"tenant_id": self.tenant_id})


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))

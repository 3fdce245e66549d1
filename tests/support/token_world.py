"""A world for token vault tests: moto made atomic per call, Intuit's token endpoint faked, hooks to force
interleavings.

moto in-process is not atomic under threads (a conditional put can pass its check in two threads at
once), while DynamoDB and Secrets Manager are atomic per request. ``AtomicClient`` restores that: every
call runs under one lock, so races between vaults are decided by the code under test, not by moto.
Everything a vault waits on (``sleep``) and every answer of the fake Intuit can be hooked, so a test
decides the order of events instead of relying on thread scheduling or the wall clock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
from botocore.exceptions import ClientError

from qbosync.settings import get_settings, get_token_refresh_budget
from qbosync.store.aws import dynamodb_client, secrets_client
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.table import MainTable
from qbosync.store.token_backup import TOKEN_BACKUP_SK, TokenBackupStore
from qbosync.store.tokens import InvalidGrant, StoredTokens, TokenCache, TokenVault

TENANT = "t1"
REALM = "9130001"
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SAFETY_TIMEOUT = 30.0  # only ever reached when the code under test is wrong; never a timing assertion


@dataclass(frozen=True)
class Grant:
    access_token: str
    refresh_token: str
    expires_in: int = 3600
    x_refresh_token_expires_in: int | None = 8_726_400


class Clock:
    """A clock the test moves by hand; shared by every vault of a world."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


class IntuitTokenEndpoint:
    """Intuit's refresh grant as qbosync sees it.

    ``rotate=True`` is the strict rule (the local QBO sandbox's): each refresh returns a new refresh token
    and the one sent stops working. ``rotate=False`` is Intuit's documented 24-hour window: a refresh
    returns the same refresh token value, so two refreshes of one token agree.
    ``after_answer(call_number, refused)`` runs after the answer is decided (a rotation has happened)
    and before it is returned: the moment a Lambda could die or stall holding the only new token.
    """

    def __init__(self, first_refresh_token: str = "refresh-0", *, rotate: bool = True) -> None:
        self.rotate = rotate
        self.valid = first_refresh_token
        self.calls: list[str] = []
        self.refused: list[str] = []
        self.after_answer: Callable[[int, bool], None] | None = None
        self._lock = threading.Lock()

    def refresh(self, refresh_token: str) -> Grant:
        with self._lock:
            self.calls.append(refresh_token)
            number = len(self.calls)
            refused = refresh_token != self.valid
            if refused:
                self.refused.append(refresh_token)
                grant = None
            else:
                new_refresh = f"refresh-{number}" if self.rotate else refresh_token
                self.valid = new_refresh
                grant = Grant(access_token=f"access-{number}", refresh_token=new_refresh)
        if self.after_answer is not None:
            self.after_answer(number, refused)
        if grant is None:
            raise InvalidGrant("invalid_grant")
        return grant


class AtomicClient:
    """An AWS client whose every call runs alone, as AWS applies each request atomically.

    ``fail`` may raise instead of calling (fault injection); ``after`` observes every successful call.
    """

    def __init__(
        self,
        client: Any,
        lock: threading.Lock,
        *,
        fail: Callable[[str, dict[str, Any]], None] | None = None,
        after: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._client = client
        self._lock = lock
        self.fail = fail
        self._after = after

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            if self.fail is not None:
                self.fail(name, kwargs)
            with self._lock:
                result = method(**kwargs)
            if self._after is not None:
                self._after(name, kwargs)
            return result

        return call


def kms_client() -> Any:
    return boto3.client("kms")


def throttled(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation)


def create_backup_key() -> str:
    """The KMS key (and the alias settings name) that seals the token copy, as the deployment provides it."""
    kms = kms_client()
    key_id = kms.create_key(Description="qbosync token copy")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=get_settings().token_backup_key, TargetKeyId=key_id)
    return key_id


@dataclass
class TokenWorld:
    """One connected tenant, its Intuit endpoint and the knobs to race vaults against each other."""

    intuit: IntuitTokenEndpoint
    clock: Clock = field(default_factory=Clock)
    aws_lock: threading.Lock = field(default_factory=threading.Lock)
    stored_versions: list[int] = field(default_factory=list)
    version_stored: threading.Condition = field(default_factory=threading.Condition)
    secret_fail: Callable[[str, dict[str, Any]], None] | None = None
    sleeps: list[float] = field(default_factory=list)

    def _observe_table(self, operation: str, kwargs: dict[str, Any]) -> None:
        item = kwargs.get("Item", {})
        if operation == "put_item" and item.get("sk", {}).get("S") == TOKEN_BACKUP_SK:
            self._note_version(int(item["version"]["N"]))

    def _observe_secret(self, operation: str, kwargs: dict[str, Any]) -> None:
        if operation in {"put_secret_value", "create_secret"}:
            self._note_version(int(json.loads(kwargs["SecretString"])["version"]))

    def _note_version(self, version: int) -> None:
        with self.version_stored:
            self.stored_versions.append(version)
            self.version_stored.notify_all()

    def wait_for_version(self, version: int) -> None:
        """Block until some vault stored ``version`` (a safety timeout only, never a timing condition)."""
        with self.version_stored:
            self.version_stored.wait_for(
                lambda: any(v >= version for v in self.stored_versions), timeout=SAFETY_TIMEOUT
            )

    def table(self) -> MainTable:
        return MainTable(cast(Any, AtomicClient(dynamodb_client(), self.aws_lock, after=self._observe_table)))

    def secrets(self) -> Any:
        return AtomicClient(
            secrets_client(), self.aws_lock, fail=self._fail_secret, after=self._observe_secret
        )

    def _fail_secret(self, operation: str, kwargs: dict[str, Any]) -> None:
        if self.secret_fail is not None:
            self.secret_fail(operation, kwargs)

    def vault(
        self,
        *,
        sleep: Callable[[float], None] | None = None,
        remaining_time: Callable[[], float] | None = None,
        poll_seconds: float = 0.01,
    ) -> TokenVault:
        """A vault as one Lambda container would have it: its own cache, the shared world behind it."""
        table = self.table()
        return TokenVault(
            TENANT,
            refresher=self.intuit,
            table=table,
            connections=ConnectionRepository(table),
            backup=TokenBackupStore(table, cast(Any, AtomicClient(kms_client(), self.aws_lock))),
            secrets=cast(Any, self.secrets()),
            clock=self.clock,
            sleep=sleep or self.record_sleep,
            remaining_time=remaining_time,
            cache=TokenCache(),
            poll_seconds=poll_seconds,
        )

    def record_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    def connect(self, *, expires_in: int = 3600) -> TokenVault:
        ConnectionRepository().record_connected(
            Connection(tenant_id=TENANT, realm_id=REALM, connected_by="admin-1", connected_at=self.clock())
        )
        vault = self.vault()
        vault.store_initial(
            REALM,
            Grant(access_token="access-0", refresh_token=self.intuit.valid, expires_in=expires_in),
        )
        return vault

    def expire_access_token(self) -> None:
        self.clock.advance(3600)

    @property
    def lease_seconds(self) -> float:
        return get_token_refresh_budget().lock_lease_seconds


def stored_secret() -> StoredTokens:
    name = get_settings().tenant_token_secret_name(TENANT)
    return StoredTokens.model_validate_json(secrets_client().get_secret_value(SecretId=name)["SecretString"])


def connection_status() -> str:
    connection = ConnectionRepository().get(TENANT)
    assert connection is not None
    return connection.status

"""The second durable copy of a tenant's QBO tokens: sealed with KMS, kept in the main table.

Why it exists: Intuit rotates the refresh token on refresh, and the only copy of the new one is in the
answer. If Secrets Manager refuses the write (throttling, an outage) for longer than the vault's budget,
the grant would be lost and the connection stranded. So the vault first writes this copy, then the
secret. The next refresh compares versions and recovers from here when the secret is behind.

Why KMS and this item: DynamoDB is a separate service with its own failure modes, and the item's
``version`` is the fence that lets only one writer store each token version (a conditional write). The
tokens are sealed with a KMS key whose encryption context names the tenant, so a ciphertext copied to
another tenant's item does not open, and reading the table (which public functions may) reveals nothing
without ``kms:Decrypt`` on that key, which only the token-handling functions need. Nothing secret is in
the item in clear: only the version, the realm and when it was written.

Item: ``TENANT#{t}`` / ``TOKEN_BACKUP``: ``version``, ``realm_id``, ``sealed`` (base64 KMS ciphertext),
``written_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from qbosync.settings import get_settings
from qbosync.store.sealing import SealingUnavailable, TenantSealer
from qbosync.store.table import Condition, ConditionFailed, MainTable, tenant_pk

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

TOKEN_BACKUP_SK = "TOKEN_BACKUP"  # noqa: S105 - a sort key, not a secret
_PURPOSE = "qbo-tokens"

__all__ = ["SealingUnavailable", "TokenBackup", "TokenBackupStore", "VersionFenced"]


class VersionFenced(Exception):
    """A copy of this version or a later one is already stored: another writer got there first."""


class TokenBackup(BaseModel):
    """The stored copy, still sealed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: int
    realm_id: str
    sealed: str
    written_at: datetime


class TokenBackupStore:
    """Reads and writes the sealed copy; every write is fenced by version."""

    def __init__(
        self,
        table: MainTable,
        kms: KMSClient | None = None,
        key_id: str | None = None,
    ) -> None:
        self._table = table
        self._sealer = TenantSealer(
            _PURPOSE, "the token copy", lambda: key_id or get_settings().token_backup_key, kms
        )

    def seal(self, tenant_id: str, plaintext: str) -> str:
        """KMS ciphertext of ``plaintext`` (base64), bound to the tenant by the encryption context."""
        return self._sealer.seal(tenant_id, plaintext)

    def open(self, tenant_id: str, sealed: str) -> str:
        """The plaintext of a sealed copy; ``SealingUnavailable`` when KMS refuses or fails."""
        return self._sealer.open(tenant_id, sealed)

    def get(self, tenant_id: str) -> TokenBackup | None:
        item = self._table.get(tenant_pk(tenant_id), TOKEN_BACKUP_SK)
        return TokenBackup.model_validate(item) if item else None

    def put(self, tenant_id: str, copy: TokenBackup, *, fenced: bool) -> None:
        """Store ``copy``; when ``fenced``, only if no copy of this version or later exists."""
        condition = (
            Condition("attribute_not_exists(pk) OR version < :v", values={":v": copy.version})
            if fenced
            else None
        )
        try:
            self._table.put(
                {
                    "pk": tenant_pk(tenant_id),
                    "sk": TOKEN_BACKUP_SK,
                    "item_type": "token_backup",
                    **copy.model_dump(mode="json"),
                },
                condition=condition,
            )
        except ConditionFailed:
            raise VersionFenced(f"token version {copy.version} is already stored") from None

    def delete(self, tenant_id: str) -> None:
        self._table.delete(tenant_pk(tenant_id), TOKEN_BACKUP_SK)

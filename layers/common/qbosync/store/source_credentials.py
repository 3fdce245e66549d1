"""Each tenant's source credentials, sealed with KMS in the tenant's partition of the main table.

Why not a Secrets Manager secret: a secret costs $0.40 a month, and the tenant already has one (its QBO
tokens). Why this is as safe: the API key is encrypted with a customer-managed KMS key
(``SourceCredentialsKey``) that only the functions calling the source may use (``kms:Decrypt`` in their
roles; the public webhooks have none), so reading the table reveals nothing. The encryption context names
the tenant, so a ciphertext copied into another tenant's item does not open. Nothing secret is in clear
in the item: only when it was written.

Item: ``TENANT#{t}`` / ``SOURCE_CREDENTIALS``: ``sealed`` (base64 KMS ciphertext of the JSON
credentials), ``written_at``. Sealed as the token copy is (``store.sealing``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from qbosync.clock import utc_now
from qbosync.settings import get_settings
from qbosync.store.sealing import TenantSealer
from qbosync.store.table import MainTable, tenant_pk

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

SOURCE_CREDENTIALS_SK = "SOURCE_CREDENTIALS"
_PURPOSE = "source-credentials"


class SealedSourceCredentials(BaseModel):
    """The stored item, still sealed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sealed: str
    written_at: datetime


class SourceCredentialsStore:
    """Seals, stores, opens and deletes one tenant's source credentials (a JSON object)."""

    def __init__(
        self,
        table: MainTable | None = None,
        kms: KMSClient | None = None,
        key_id: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sealer = TenantSealer(
            _PURPOSE,
            "the source credentials",
            lambda: key_id or get_settings().source_credentials_key,
            kms,
        )

    @property
    def _main_table(self) -> MainTable:
        if self._table is None:
            self._table = MainTable()
        return self._table

    def put(self, tenant_id: str, credentials: dict[str, Any]) -> None:
        """Seal ``credentials`` for this tenant and store them (replacing what was there)."""
        sealed = SealedSourceCredentials(
            sealed=self._sealer.seal(tenant_id, json.dumps(credentials)), written_at=self._clock()
        )
        self._main_table.put(
            {
                "pk": tenant_pk(tenant_id),
                "sk": SOURCE_CREDENTIALS_SK,
                "item_type": "source_credentials",
                **sealed.model_dump(mode="json"),
            }
        )

    def get(self, tenant_id: str) -> dict[str, Any] | None:
        """The tenant's opened credentials, ``None`` when none are stored; ``SealingUnavailable`` when KMS
        refuses (another tenant's ciphertext, a key this function may not use) or fails."""
        item = self._main_table.get(tenant_pk(tenant_id), SOURCE_CREDENTIALS_SK)
        if item is None:
            return None
        stored = SealedSourceCredentials.model_validate(item)
        opened: dict[str, Any] = json.loads(self._sealer.open(tenant_id, stored.sealed))
        return opened

    def exists(self, tenant_id: str) -> bool:
        return self._main_table.get(tenant_pk(tenant_id), SOURCE_CREDENTIALS_SK) is not None

    def delete(self, tenant_id: str) -> None:
        self._main_table.delete(tenant_pk(tenant_id), SOURCE_CREDENTIALS_SK)

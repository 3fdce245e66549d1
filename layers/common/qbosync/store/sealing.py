"""Sealing a tenant's secret material with KMS for a table item (the token copy, the source credentials).

A ``TenantSealer`` encrypts with one KMS key under an encryption context that names the tenant and the
purpose, so a ciphertext copied to another tenant's item, or to the other purpose, does not open. KMS
errors become ``SealingUnavailable``, transient unless KMS refused for good.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from qbosync.store.aws import bounded_kms_client

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class SealingUnavailable(Exception):
    """KMS could not seal or open; ``transient`` when a retry may succeed (throttled, down)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


_PERMANENT_KMS_CODES = frozenset(
    {
        "NotFoundException",
        "DisabledException",
        "AccessDeniedException",
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "KMSInvalidStateException",
        "InvalidKeyUsageException",
        "ValidationException",
    }
)


def kms_failure(action: str, exc: ClientError | BotoCoreError) -> SealingUnavailable:
    """``SealingUnavailable`` for a KMS error, transient unless KMS refused for good."""
    code = str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""
    return SealingUnavailable(
        f"KMS could not {action} ({code or type(exc).__name__})",
        transient=code not in _PERMANENT_KMS_CODES,
    )


class TenantSealer:
    """Seals and opens text for one purpose with one KMS key, bound to the tenant."""

    def __init__(
        self, purpose: str, what: str, key_id: Callable[[], str], kms: KMSClient | None = None
    ) -> None:
        self._purpose = purpose
        self._what = what  # named in errors: "the token copy", "the source credentials"
        self._key_id = key_id
        self._kms = kms

    @property
    def _client(self) -> KMSClient:
        if self._kms is None:
            self._kms = bounded_kms_client()
        return self._kms

    def _context(self, tenant_id: str) -> dict[str, str]:
        return {"tenant_id": tenant_id, "purpose": self._purpose}

    def seal(self, tenant_id: str, plaintext: str) -> str:
        """KMS ciphertext of ``plaintext`` (base64), bound to the tenant by the encryption context."""
        try:
            response = self._client.encrypt(
                KeyId=self._key_id(), Plaintext=plaintext.encode(), EncryptionContext=self._context(tenant_id)
            )
        except (ClientError, BotoCoreError) as exc:
            raise kms_failure(f"seal {self._what}", exc) from None
        return base64.b64encode(response["CiphertextBlob"]).decode()

    def open(self, tenant_id: str, sealed: str) -> str:
        """The plaintext of ``sealed``; ``SealingUnavailable`` when KMS refuses (another tenant's or
        purpose's ciphertext, a key this function may not use) or fails."""
        try:
            response = self._client.decrypt(
                CiphertextBlob=base64.b64decode(sealed), EncryptionContext=self._context(tenant_id)
            )
        except (ClientError, BotoCoreError) as exc:
            raise kms_failure(f"open {self._what}", exc) from None
        return response["Plaintext"].decode()

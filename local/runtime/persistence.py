"""``--persist DIR``: what of moto's state survives a restart, since moto itself keeps nothing.

On stop the runtime writes ``DIR/aws-state.json``: every item of the template's tables, every secret,
and the messages waiting in the template's queues. On start, after the resources are created, it puts
them back. The credentials the runtime generates (Intuit app, source API key and webhook secret, state
signing key) are kept in ``DIR/credentials.json`` so the restored tokens and signatures stay valid
against the sandboxes, which keep their own snapshots in the same directory. Not kept: Step Functions
executions, and messages in flight (received but not yet deleted) at the moment of stopping.
Both files hold (local, sandbox-issued) secrets, so they are written with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger("local.runtime.persistence")
AWS_STATE_FILE = "aws-state.json"
CREDENTIALS_FILE = "credentials.json"
QBO_SNAPSHOT_FILE = "qbo-sandbox.json"
SOURCE_SNAPSHOT_FILE = "source-sandbox.json"
_BYTES_KEY = "__bytes_b64__"


@dataclass(frozen=True)
class LocalCredentials:
    """The secrets the runtime makes up and shares between the sandboxes and Secrets Manager."""

    intuit_client_id: str
    intuit_client_secret: str
    verifier_token: str
    source_api_key: str
    source_webhook_secret: str
    state_signing_key: str

    @classmethod
    def generate(cls) -> LocalCredentials:
        return cls(
            intuit_client_id=f"qbosync-local-{secrets.token_hex(8)}",
            intuit_client_secret=secrets.token_urlsafe(24),
            verifier_token=secrets.token_urlsafe(16),
            source_api_key=f"sk_local_{secrets.token_urlsafe(18)}",
            source_webhook_secret=f"whsec_local_{secrets.token_urlsafe(18)}",
            state_signing_key=secrets.token_urlsafe(32),
        )

    def tenant_source_credentials(self, tenant_id: str) -> tuple[str, str]:
        """A tenant's own source API key and webhook secret, derived from this run's two source
        secrets, so no tenant can sign for another and a persisted runtime keeps them across restarts.
        The webhook secret is derived as a deployed stack derives it, with ``source_webhook_secret`` as
        the app's source webhook key."""
        from qbosync.store.app_secrets import derive_source_webhook_secret

        digest = hmac.new(
            self.source_api_key.encode(), f"api-key|{tenant_id}".encode(), hashlib.sha256
        ).digest()
        api_key = f"sk_local_{base64.urlsafe_b64encode(digest).decode().rstrip('=')[:32]}"
        return api_key, derive_source_webhook_secret(self.source_webhook_secret, tenant_id, 1)

    @classmethod
    def load_or_generate(cls, directory: Path | None) -> LocalCredentials:
        if directory is None:
            return cls.generate()
        path = directory / CREDENTIALS_FILE
        if path.exists():
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        credentials = cls.generate()
        _write_private(path, asdict(credentials))
        return credentials


def _write_private(path: Path, document: Any) -> None:
    """Write JSON atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, default=_encode_bytes)
    temporary.replace(path)


def _encode_bytes(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {_BYTES_KEY: base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot persist {type(value).__name__}")


def _decode_bytes(document: dict[str, Any]) -> Any:
    if set(document) == {_BYTES_KEY}:
        return base64.b64decode(document[_BYTES_KEY])
    return document


class AwsStateStore:
    """Dumps and restores tables, secrets and queued messages through boto3 clients on moto."""

    def __init__(self, directory: Path, dynamodb: Any, secretsmanager: Any, sqs: Any) -> None:
        self._path = directory / AWS_STATE_FILE
        self._dynamodb = dynamodb
        self._secrets = secretsmanager
        self._sqs = sqs

    def save(self, tables: dict[str, str], queue_urls: dict[str, str]) -> None:
        table_items = {logical_id: self._scan(name) for logical_id, name in tables.items()}
        secrets = self._all_secrets()
        messages = {logical_id: self._drain(url) for logical_id, url in queue_urls.items()}
        _write_private(self._path, {"tables": table_items, "secrets": secrets, "queues": messages})
        LOGGER.info(
            "saved %d items, %d secrets, %d messages",
            sum(len(items) for items in table_items.values()),
            len(secrets),
            sum(len(queued) for queued in messages.values()),
        )

    def restore(self, tables: dict[str, str], queue_urls: dict[str, str]) -> bool:
        """Put a saved state back; False when there is none yet."""
        if not self._path.exists():
            return False
        document = json.loads(self._path.read_text(encoding="utf-8"), object_hook=_decode_bytes)
        for secret in document.get("secrets", []):
            self._put_secret(secret)
        for logical_id, items in document.get("tables", {}).items():
            if logical_id in tables:
                self._write_items(tables[logical_id], items)
            else:
                LOGGER.warning("saved table %s is no longer in the template: not restored", logical_id)
        for logical_id, messages in document.get("queues", {}).items():
            if logical_id in queue_urls:
                for message in messages:
                    self._sqs.send_message(QueueUrl=queue_urls[logical_id], **message)
        return True

    def _scan(self, table_name: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self._dynamodb.get_paginator("scan").paginate(TableName=table_name):
            items.extend(page.get("Items", []))
        return items

    def _write_items(self, table_name: str, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 25):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            pending: dict[str, Any] = {table_name: requests}
            while pending:
                pending = self._dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def _all_secrets(self) -> list[dict[str, Any]]:
        saved: list[dict[str, Any]] = []
        for page in self._secrets.get_paginator("list_secrets").paginate():
            for entry in page.get("SecretList", []):
                value = self._secrets.get_secret_value(SecretId=entry["ARN"])
                secret: dict[str, Any] = {"Name": entry["Name"]}
                if "SecretString" in value:
                    secret["SecretString"] = value["SecretString"]
                else:
                    secret["SecretBinary"] = value["SecretBinary"]
                saved.append(secret)
        return saved

    def _put_secret(self, secret: dict[str, Any]) -> None:
        value = {key: secret[key] for key in ("SecretString", "SecretBinary") if key in secret}
        try:
            self._secrets.create_secret(Name=secret["Name"], **value)
        except self._secrets.exceptions.ResourceExistsException:
            self._secrets.put_secret_value(SecretId=secret["Name"], **value)

    def _drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every visible message, as ``send_message`` arguments (FIFO group and dedup id kept)."""
        messages: list[dict[str, Any]] = []
        while True:
            received = self._sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                return messages
            for message in received:
                arguments: dict[str, Any] = {"MessageBody": message["Body"]}
                attributes = message.get("Attributes", {})
                if "MessageGroupId" in attributes:
                    arguments["MessageGroupId"] = attributes["MessageGroupId"]
                    arguments["MessageDeduplicationId"] = attributes.get(
                        "MessageDeduplicationId", message["MessageId"]
                    )
                if message.get("MessageAttributes"):
                    arguments["MessageAttributes"] = message["MessageAttributes"]
                messages.append(arguments)

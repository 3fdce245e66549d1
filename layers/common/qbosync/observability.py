"""One place for logging, tracing and metrics.

Log with keys, never f-strings: ``logger.info("pushed invoice", extra={"invoice_id": ...})``.
Values under keys that look like secrets are masked before they are written, as a second line of
defence; the first is never passing a secret to the logger at all.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "qbosync"
METRICS_NAMESPACE = "qbosync"

# An OAuth authorization code is a secret too, but "fault_code" or "status_code" are not.
_SECRET_EXACT_KEYS = frozenset({"code", "auth_code", "authorization_code"})
_SECRET_KEY_PARTS = (
    "token",
    "secret",
    "password",
    "signature",
    "authorization",
    "verifier",
    "api_key",
)
MASK = "***"


def is_secret_key(key: str) -> bool:
    """True for a log key whose value must never be written (``access_token``, ``intuit-signature``...)."""
    lowered = key.lower()
    return lowered in _SECRET_EXACT_KEYS or any(part in lowered for part in _SECRET_KEY_PARTS)


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` with every secret-looking key's value replaced by a mask."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) else mask_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


class _SecretMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key in list(vars(record)):
            if is_secret_key(key) and key not in {"exc_info", "exc_text"}:
                setattr(record, key, MASK)
        return True


logger = Logger(service=SERVICE)
logger.addFilter(_SecretMaskingFilter())
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=METRICS_NAMESPACE)

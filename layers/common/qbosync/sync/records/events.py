"""How a sync event's reason says what to do with it next (read by the retry schedule and replay)."""

from __future__ import annotations

NOT_RETRYABLE_PREFIXES = ("unsupported:", "drift:")
"""Failed events whose reason starts so are reports for an admin; replaying them changes nothing."""
PUSH_RETRYING_PREFIX = "retrying:"


def missing_mapping_reason(kind: str, source_key: str) -> str:
    return f"missing_mapping:{kind}:{source_key}"

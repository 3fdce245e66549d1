"""Save and restore the sandbox's state as one JSON file, so a run can stop and resume.

Kept: companies, OAuth codes/grants/tokens, the id_token signing key, the clock offset and undelivered
webhooks. Not kept: stats, rate windows and in-flight counts (a restart starts them afresh).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from local.qbo_sandbox.app import Sandbox

SNAPSHOT_FORMAT = 1


class SandboxSnapshot(BaseModel):
    format: int = SNAPSHOT_FORMAT
    saved_at: str
    clock_offset_seconds: float = 0.0
    user_sub: str
    signing_key_pem: str
    companies: list[dict[str, Any]]
    tokens: dict[str, Any] = Field(default_factory=dict)
    webhooks: dict[str, Any] = Field(default_factory=dict)


def capture_snapshot(sandbox: Sandbox) -> SandboxSnapshot:
    companies = []
    for company in sandbox.companies.values():
        with company.lock:
            companies.append(company.to_snapshot())
    return SandboxSnapshot(
        saved_at=datetime.now(UTC).isoformat(),
        clock_offset_seconds=sandbox.clock.offset_seconds,
        user_sub=sandbox.user_sub,
        signing_key_pem=sandbox.signer.private_key_pem(),
        companies=companies,
        tokens=sandbox.tokens.to_snapshot(),
        webhooks=sandbox.webhooks.to_snapshot(),
    )


def write_snapshot(snapshot: SandboxSnapshot, path: str | Path) -> None:
    """Written to a temporary file first, so a crash mid-write never leaves a half snapshot."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(snapshot.model_dump(mode="json"), default=str), encoding="utf-8")
    os.replace(temporary, target)


def read_snapshot(path: str | Path) -> SandboxSnapshot | None:
    """The snapshot at `path`, or None when there is none yet (first run)."""
    source = Path(path)
    if not source.exists():
        return None
    snapshot = SandboxSnapshot.model_validate_json(source.read_text(encoding="utf-8"))
    if snapshot.format != SNAPSHOT_FORMAT:
        raise ValueError(f"snapshot format {snapshot.format} is not {SNAPSHOT_FORMAT}")
    return snapshot

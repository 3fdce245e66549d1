"""OAuth ``state`` nonces: saved when an admin starts connecting, consumed once by the callback.

The callback first ``peek``s (a read that changes nothing) so the signature and the browser are checked
before anything is used up; a forged state thus cannot burn the genuine one. Consumption is then a
conditional delete that returns the old item, so a replayed callback (or two racing ones) finds nothing
the second time; an expired nonce is refused even before DynamoDB's TTL removes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from qbosync.errors import BadRequest, Conflict
from qbosync.observability import logger
from qbosync.store.table import STATE_SK, Condition, ConditionFailed, MainTable, oauth_state_pk


class StoredState(BaseModel):
    """What the callback learns from a valid ``state``: whose connection attempt it is."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    nonce: str
    tenant_id: str
    admin_sub: str
    expires_at: datetime
    browser_hash: str = ""
    """SHA-256 of the browser key set as a cookie on the connect redirect; empty on pre-binding items."""


class StateInvalid(BadRequest):
    """The OAuth ``state`` is malformed, forged, unknown, already used or expired."""

    code = "invalid_state"


class OAuthStateRepository:
    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def save(
        self, nonce: str, tenant_id: str, admin_sub: str, expires_at: datetime, *, browser_hash: str
    ) -> StoredState:
        """Remember a fresh nonce; ``expires_at`` is also the item's TTL."""
        state = StoredState(
            nonce=nonce,
            tenant_id=tenant_id,
            admin_sub=admin_sub,
            expires_at=expires_at,
            browser_hash=browser_hash,
        )
        try:
            self._table.put(
                {
                    "pk": oauth_state_pk(nonce),
                    "sk": STATE_SK,
                    "item_type": "oauth_state",
                    "tenant_id": tenant_id,
                    "admin_sub": admin_sub,
                    "browser_hash": browser_hash,
                    "expires_at": int(expires_at.timestamp()),
                },
                condition=Condition("attribute_not_exists(pk)"),
            )
        except ConditionFailed as exc:
            raise Conflict("this OAuth state nonce was already issued", code="state_reused") from exc
        return state

    def peek(self, nonce: str, now: datetime) -> StoredState:
        """What a live nonce is bound to, without using it up; ``StateInvalid`` when unknown or expired."""
        try:
            item = self._table.get(oauth_state_pk(nonce), STATE_SK)
        except ValueError as exc:  # a nonce that cannot even be a key
            raise StateInvalid("the OAuth state is not valid") from exc
        if item is None or int(item["expires_at"]) <= int(now.timestamp()):
            logger.warning("oauth state refused", extra={"reason": "unknown, used or expired"})
            raise StateInvalid("the OAuth state is unknown, already used or expired")
        return _stored(nonce, item)

    def consume(self, nonce: str, now: datetime) -> StoredState:
        """Use the nonce up: the first valid call gets it, every later or late call gets ``StateInvalid``."""
        try:
            old = self._table.delete(
                oauth_state_pk(nonce),
                STATE_SK,
                condition=Condition(
                    "attribute_exists(pk) AND expires_at > :now", values={":now": int(now.timestamp())}
                ),
            )
        except ValueError as exc:  # a nonce that cannot even be a key
            raise StateInvalid("the OAuth state is not valid") from exc
        except ConditionFailed as exc:
            logger.warning("oauth state refused", extra={"reason": "unknown, used or expired"})
            raise StateInvalid("the OAuth state is unknown, already used or expired") from exc
        if old is None:  # the condition makes this unreachable, but never hand out nothing as success
            raise StateInvalid("the OAuth state is unknown, already used or expired")
        return _stored(nonce, old)


def _stored(nonce: str, item: dict[str, Any]) -> StoredState:
    return StoredState(
        nonce=nonce,
        tenant_id=str(item["tenant_id"]),
        admin_sub=str(item["admin_sub"]),
        expires_at=datetime.fromtimestamp(int(item["expires_at"]), tz=UTC),
        browser_hash=str(item.get("browser_hash", "")),
    )

"""OAuth ``state`` nonces: saved when an admin starts connecting, consumed once by the callback.

Consumption is a conditional delete that returns the old item, so a replayed callback (or two racing
ones) finds nothing the second time; an expired nonce is refused even before DynamoDB's TTL removes it.
"""

from __future__ import annotations

from datetime import UTC, datetime

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


class StateInvalid(BadRequest):
    """The OAuth ``state`` is malformed, forged, unknown, already used or expired."""

    code = "invalid_state"


class OAuthStateRepository:
    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def save(self, nonce: str, tenant_id: str, admin_sub: str, expires_at: datetime) -> StoredState:
        """Remember a fresh nonce; ``expires_at`` is also the item's TTL."""
        state = StoredState(nonce=nonce, tenant_id=tenant_id, admin_sub=admin_sub, expires_at=expires_at)
        try:
            self._table.put(
                {
                    "pk": oauth_state_pk(nonce),
                    "sk": STATE_SK,
                    "item_type": "oauth_state",
                    "tenant_id": tenant_id,
                    "admin_sub": admin_sub,
                    "expires_at": int(expires_at.timestamp()),
                },
                condition=Condition("attribute_not_exists(pk)"),
            )
        except ConditionFailed as exc:
            raise Conflict("this OAuth state nonce was already issued", code="state_reused") from exc
        return state

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
        return StoredState(
            nonce=nonce,
            tenant_id=str(old["tenant_id"]),
            admin_sub=str(old["admin_sub"]),
            expires_at=datetime.fromtimestamp(int(old["expires_at"]), tz=UTC),
        )

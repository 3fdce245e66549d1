"""Echo rules: telling qbosync's own writes (which QBO announces like anyone's) from changes made in QBO."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbosync.store.links import Link, LinkState
from qbosync.sync.records.messages import EntityChange


def sync_token(row: Mapping[str, Any]) -> str | None:
    token = row.get("SyncToken")
    return str(token) if token is not None else None


def is_deleted(change: EntityChange, row: Mapping[str, Any] | None) -> bool:
    return change.operation == "Delete" or row is None or str(row.get("status", "")).lower() == "deleted"


def is_echo(link: Link, row: Mapping[str, Any] | None) -> bool:
    """True when QBO holds exactly what qbosync last wrote or saw for this link."""
    return row is not None and link.sync_token is not None and link.sync_token == sync_token(row)


def _linked_after(link: Link, change: EntityChange) -> bool:
    """The link was written at or after the change QBO announced (False when either time is unknown)."""
    stamp = change.last_updated
    if stamp is None or stamp.tzinfo is None or link.updated_at.tzinfo is None:
        return False
    return link.updated_at >= stamp


def _written_by_qbosync_at_or_after(link: Link, change: EntityChange) -> bool:
    """qbosync's own last write of the record (QBO's ``LastUpdatedTime`` of it) is at or after the
    change announced: both times are QBO's clock, so they compare exactly (to the second).

    ``updated_at`` would not do: it also moves when qbosync records a link without writing to QBO
    (a repeated event), which would hide an edit made in QBO between qbosync's write and that record.
    """
    stamp, written = change.last_updated, link.qbo_written_at
    if stamp is None or written is None or stamp.tzinfo is None:
        return False
    return written >= stamp


def own_write_without_reading(link: Link, change: EntityChange) -> str | None:
    """Why a notified change is plainly qbosync's own write, per its link alone; None when in doubt.

    Only the operation qbosync last performed on the record, as its link records it, qualifies:
    - the push deleted it (state ``deleted``): QBO never reuses an id, so nothing of it is left to read;
    - ``Void`` of a record the push voided (state ``voided``);
    - ``Create`` of a record linked at or after its creation (later edits come as their own changes);
    - ``Update`` no later than qbosync's own last write of the record (``qbo_written_at``).
    """
    if link.state is LinkState.DELETED:
        return "qbosync deleted this record in QBO"
    if change.operation == "Void":
        return "qbosync voided this record in QBO" if link.state is LinkState.VOIDED else None
    if change.operation == "Create" and _linked_after(link, change):
        return "qbosync linked this record after its creation"
    if change.operation == "Update" and _written_by_qbosync_at_or_after(link, change):
        return "qbosync updated this record at or after the change"
    return None

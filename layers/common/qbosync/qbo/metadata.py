"""What qbosync reads off a QBO record's ``MetaData``: when QBO created it and last changed it.

The flows handle QBO records as the dicts the client returns (the bodies they write are built from the
source's models, and the few fields they read are looked up where used), so these two readings are the
only wire knowledge shared across them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def metadata_time(record: Mapping[str, Any], name: str) -> datetime | None:
    """``MetaData.<name>`` (``CreateTime``, ``LastUpdatedTime``) of a record as QBO returned it: QBO's
    clock, whole seconds, with the company's UTC offset.

    None when the record has none, it does not parse, or it has no UTC offset (a time that could not
    be compared with another).
    """
    meta = record.get("MetaData")
    stamp = meta.get(name) if isinstance(meta, Mapping) else None
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def last_updated_time(record: Mapping[str, Any]) -> datetime | None:
    """``MetaData.LastUpdatedTime``: compares exactly with a webhook's ``lastUpdated`` (both QBO's clock)."""
    return metadata_time(record, "LastUpdatedTime")

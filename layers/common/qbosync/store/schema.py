"""Versions of the stored items' shapes, and the one way old items are upgraded when read.

Every item ``MainTable`` writes carries ``schema_version`` (``SCHEMA_VERSION``): puts, batch puts and
transaction puts get the attribute, updates set it (so an old item is re-stamped by its next change).
An item without it was written before versions existed: version 1.

A reader never rejects an item of an older version: its model runs ``upgraded`` before validation, which
applies each registered step from the item's version up to ``SCHEMA_VERSION``, in order. A step is a pure
function of the stored dict, so reading the same old item twice gives the same answer, and nothing is
written back on read (the next write of the item stores the current shape). An item of a *newer* version
(read by code rolled back after an upgrade) is read as it is: versions only add attributes or move
meaning into new ones, so the older reader ignores what it does not know.

History:
- 1: no ``schema_version``. Events kept their reason code inside ``reason`` text; links kept a voided or
  deleted record's state in ``content_hash``.
- 2: every item carries ``schema_version``; events have ``reason_code``, links ``state``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SCHEMA_VERSION = 2
SCHEMA_ATTRIBUTE = "schema_version"

UpgradeStep = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a stored item of version N into version N + 1 (registered under N)."""


def stored_version(item: Mapping[str, Any]) -> int:
    """The version an item was written at (1 when it predates versions)."""
    return int(item.get(SCHEMA_ATTRIBUTE, 1))


def upgraded(data: Any, steps: Mapping[int, UpgradeStep]) -> Any:
    """``data`` (a stored item, before model validation) brought up to ``SCHEMA_VERSION``; anything that
    is not a dict, or already current or newer, is returned as it is."""
    if not isinstance(data, dict):
        return data
    version = stored_version(data)
    for step_version in range(version, SCHEMA_VERSION):
        step = steps.get(step_version)
        if step is not None:
            data = step(data)
    return data

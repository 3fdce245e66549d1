"""QBO names as qbosync writes and compares them, and the deterministic suffix of the name-collision policy.

QBO compares names without case and surrounding blanks; a DisplayName is shared by customers, vendors
and employees, so a taken name is retried once under a suffixed form (policy ``suffix``) in every flow.
"""

from __future__ import annotations

CUSTOMER_COLLISION_SUFFIX = " (C)"
ITEM_COLLISION_SUFFIX = " (P)"
QBO_DISPLAY_NAME_MAX = 500
QBO_ITEM_NAME_MAX = 100


def name_key(name: str) -> str:
    """QBO compares names without case and surrounding blanks."""
    return name.strip().casefold()


def suffixed_name(display_name: str) -> str:
    """The deterministic alternative name used when a vendor or employee already has the name."""
    return display_name[: QBO_DISPLAY_NAME_MAX - len(CUSTOMER_COLLISION_SUFFIX)] + CUSTOMER_COLLISION_SUFFIX


def qbo_item_name(name: str) -> str:
    """QBO item names are at most 100 characters and use ``:`` for sub-items."""
    return name.replace(":", "-")[:QBO_ITEM_NAME_MAX]


def suffixed_item_name(name: str) -> str:
    return qbo_item_name(name)[: QBO_ITEM_NAME_MAX - len(ITEM_COLLISION_SUFFIX)] + ITEM_COLLISION_SUFFIX

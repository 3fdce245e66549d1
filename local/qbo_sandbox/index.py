"""Look-ups by member value, so a company of 100,000 records answers as fast as one of 1,000.

`Company` keeps one `RecordIndex` in step with every record it stores. Keys follow the query language's
equality: text compares without case, and number-like text compares as a number ('001' = '1'); a value
the index cannot key the same way (a date, a boolean) is left to a scan.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}(T.*)?$")

Extractor = Callable[[dict[str, Any]], Iterable[str | None]]


def index_key(value: Any) -> str | None:
    """The key a stored value or a query literal files under, or None when it cannot be keyed."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, int | float | Decimal):
        return _number_key(str(value))
    text = str(value)
    if _DATE_LIKE.match(text):
        return None
    if _NUMBER.fullmatch(text):
        return _number_key(text)
    return "s:" + text.lower()


def _number_key(text: str) -> str | None:
    try:
        return "n:" + format(Decimal(text).normalize(), "f")
    except InvalidOperation:
        return None


def _ref_value(record: dict[str, Any], member: str) -> Any:
    ref = record.get(member)
    return ref.get("value") if isinstance(ref, dict) else None


def _member(member: str) -> Extractor:
    return lambda record: (index_key(record.get(member)),)


def _ref(member: str) -> Extractor:
    return lambda record: (index_key(_ref_value(record, member)),)


def _linked_transactions(record: dict[str, Any]) -> Iterable[str | None]:
    """A payment's applications, as `Invoice:12` keys."""
    for line in record.get("Line", []) or []:
        for linked in line.get("LinkedTxn", []) or []:
            yield f"{linked.get('TxnType')}:{linked.get('TxnId')}"


# Which members each index covers. Query look-ups use the ones named like a top-level member (lowercase).
COMMON_INDEXES: dict[str, Extractor] = {
    "id": _member("Id"),
    "name": _member("Name"),
    "displayname": _member("DisplayName"),
    "fullyqualifiedname": _member("FullyQualifiedName"),
    "docnumber": _member("DocNumber"),
    "customerref": _ref("CustomerRef"),
    "parentref": _ref("ParentRef"),
}
LINKED_TXN_INDEX = "linkedtxn"
UNIQUE_NAME_INDEX = "unique-name"


class RecordIndex:
    """Per entity and index: key -> ids of the records filed under it."""

    def __init__(self, unique_key: Callable[[str, dict[str, Any]], str]) -> None:
        self._unique_key = unique_key
        self._ids: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._filed: dict[tuple[str, str], dict[str, set[str]]] = {}

    def _keys(self, entity: str, record: dict[str, Any]) -> dict[str, set[str]]:
        keys: dict[str, set[str]] = {}
        for name, extractor in COMMON_INDEXES.items():
            keys[name] = {key for key in extractor(record) if key is not None}
        if entity == "Payment":
            keys[LINKED_TXN_INDEX] = {key for key in _linked_transactions(record) if key is not None}
        keys[UNIQUE_NAME_INDEX] = {self._unique_key(entity, record)}
        return keys

    def put(self, entity: str, record: dict[str, Any]) -> None:
        """File a record (again) under its current values."""
        self.drop(entity, str(record["Id"]))
        keys = self._keys(entity, record)
        for name, values in keys.items():
            bucket = self._ids[(entity, name)]
            for value in values:
                bucket[value].add(str(record["Id"]))
        self._filed[(entity, str(record["Id"]))] = keys

    def drop(self, entity: str, entity_id: str) -> None:
        keys = self._filed.pop((entity, entity_id), None)
        if keys is None:
            return
        for name, values in keys.items():
            bucket = self._ids[(entity, name)]
            for value in values:
                ids = bucket.get(value)
                if ids is not None:
                    ids.discard(entity_id)
                    if not ids:
                        del bucket[value]

    def ids(self, entity: str, name: str, key: str) -> set[str]:
        """The ids filed under `key` (a copy, safe to keep while records change)."""
        return set(self._ids[(entity, name)].get(key, ()))

    def covers(self, name: str) -> bool:
        return name in COMMON_INDEXES

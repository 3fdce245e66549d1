"""Items as an earlier version of qbosync stored them (no tests here): written with the raw client, so
``MainTable`` does not stamp them with today's ``schema_version``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbosync.settings import get_settings
from qbosync.store.aws import dynamodb_client
from qbosync.store.table import serialize


def put_as_version_1(item: Mapping[str, Any]) -> None:
    """Store ``item`` exactly as given, as qbosync did before items carried a schema version."""
    dynamodb_client().put_item(TableName=get_settings().table_name, Item=serialize(item))
